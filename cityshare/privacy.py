"""Masking and keyed tokens for personal information (DOMAIN.md §7).

Pure functions with no heavy imports: they are called row by row from DuckDB (through the
``cityshare.transform_udfs`` dbt-duckdb plugin, as ``cs_*`` SQL functions) and directly from Python.

Rules (project rule, common practice; GB/T 35273 asks for de-identification but fixes no pattern):

- mobile: keep the first 3 and the last 4 digits            ``13812345678 -> 138****5678``
- ID number: keep the first 6 and the last 4 characters     ``500112199001011234 -> 500112********1234``
- person name: keep the surname, one ``*`` per other char    ``张三丰 -> 张**``
- address: keep up to and including the street/town part    ``南岸区南坪街道南坪西路23号 -> 南岸区南坪街道``
- joins across departments use :func:`keyed_token` (HMAC-SHA256 with the city-held key), never the
  raw value.

Every function returns ``None`` for ``None``. A value too short to keep anything safely is masked
completely rather than passed through.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

MASK = "*"

# Common two-character (复姓) surnames; a name starting with one keeps both characters.
_COMPOUND_SURNAME_PAIRS = (
    "欧阳司马上官诸葛东方皇甫尉迟公孙慕容长孙宇文司徒令狐夏侯轩辕端木独孤南宫"
    "西门万俟闻人赫连澹台公冶宗政濮阳太史申屠钟离拓跋呼延百里东郭单于司空第五"
)
COMPOUND_SURNAMES = frozenset(
    _COMPOUND_SURNAME_PAIRS[i : i + 2] for i in range(0, len(_COMPOUND_SURNAME_PAIRS), 2)
)

# The first street-level unit in an address: 街道, or a 镇 / 乡 that ends a unit name: not the first
# character of the name (镇东街道) and not followed by a character that makes it part of a road or
# place name (城乡路, 乡村, 新乡镇 ...).
_STREET_PART = re.compile(r"^.*?(?:街道|(?<=[^区县市])[镇乡](?![路街巷道村号镇]))")
# Fallback when there is no street-level unit: keep the county-level unit (区 / 县 / 旗).
_COUNTY_PART = re.compile(r"^.*?[区县旗](?![路街巷道号])")


def _mask_middle(text: str, keep_head: int, keep_tail: int) -> str:
    """Keep ``keep_head`` leading and ``keep_tail`` trailing characters, mask the rest."""
    hidden = len(text) - keep_head - keep_tail
    if hidden <= 0:
        return MASK * len(text)
    return text[:keep_head] + MASK * hidden + text[len(text) - keep_tail :]


def mask_mobile(value: str | None) -> str | None:
    """``13812345678 -> 138****5678``.

    Spaces, dashes and a leading ``+86``/``86`` country code are dropped first. Values of 8+
    characters keep 3 + 4 (a Chongqing landline ``02368881234 -> 023****1234``); shorter ones would
    show everything and are masked completely.
    """
    if value is None:
        return None
    text = re.sub(r"[\s\-()]", "", str(value))
    if len(text) == 13 and text.startswith("86"):
        text = text[2:]
    elif len(text) == 14 and text.startswith("+86"):
        text = text[3:]
    return _mask_middle(text, 3, 4)


def mask_id_number(value: str | None) -> str | None:
    """First 6 + ``*`` + last 4: ``500112199001011234 -> 500112********1234``.

    18-character numbers (GB 11643) get 8 stars; old 15-digit numbers get 5 stars (birth date and the
    sequence digits before the last 4 hidden). Values shorter than 15 characters (not an ID number)
    are masked completely. A lowercase check character ``x`` is upper-cased.
    """
    if value is None:
        return None
    text = str(value).strip().upper()
    if len(text) < 15:
        return MASK * len(text)
    return _mask_middle(text, 6, 4)


def mask_person_name(value: str | None) -> str | None:
    """Keep the surname, one ``*`` per remaining character: ``张三丰 -> 张**``, ``欧阳娜娜 -> 欧阳**``.

    A one-character value is masked completely (it could be a given name alone). Non-Chinese names
    keep the first letter: ``John Smith -> J*********`` (spaces count as characters).
    """
    if value is None:
        return None
    text = str(value).strip()
    if len(text) <= 1:
        return MASK * len(text)
    keep = 2 if text[:2] in COMPOUND_SURNAMES and len(text) > 2 else 1
    return text[:keep] + MASK * (len(text) - keep)


def truncate_address(value: str | None) -> str | None:
    """Keep up to and including the first 街道/镇/乡 unit: ``南岸区南坪街道南坪西路23号 -> 南岸区南坪街道``.

    Without a street-level unit, keep the county-level unit (``渝中区解放碑民族路1号 -> 渝中区``).
    Without either, nothing safe is left: ``None``. An empty value stays empty.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return text
    match = _STREET_PART.match(text) or _COUNTY_PART.match(text)
    return match.group(0) if match else None


def keyed_token(value: str | None, key: str | bytes) -> str | None:
    """Hex HMAC-SHA256 of ``value`` under ``key``; ``None`` for ``None`` or ``''``.

    The value is used as given (no normalization): callers normalize first (the staging models trim
    and upper-case ID numbers, strip phone punctuation) so every department derives the same token.
    """
    if value is None or value == "":
        return None
    key_bytes = key.encode("utf-8") if isinstance(key, str) else key
    return hmac.new(key_bytes, str(value).encode("utf-8"), hashlib.sha256).hexdigest()


def tokenizer(key: str | bytes) -> Callable[[str | None], str | None]:
    """``keyed_token`` with the key bound, the HMAC key schedule computed once (for row-by-row UDFs)."""
    key_bytes = key.encode("utf-8") if isinstance(key, str) else key
    prepared = hmac.new(key_bytes, digestmod=hashlib.sha256)

    def token(value: str | None) -> str | None:
        if value is None or value == "":
            return None
        mac = prepared.copy()
        mac.update(str(value).encode("utf-8"))
        return mac.hexdigest()

    return token


def token_key() -> str:
    """The city-held token key, from the settings (``CITYSHARE_TOKEN_KEY``); refuses a missing or known one."""
    from cityshare.keys import require_token_key
    from cityshare.settings import get_settings

    return require_token_key(get_settings())
