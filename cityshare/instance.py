"""Instance identity (平台身份) and its place in the federation: level, GB/T 2260 area code, name, the
lower instances it harvests and the higher ones it receives code lists from (``catalog/federation.yml``); the
signing key is the receipt key.

The area code is checked against the reference data (the dbt seed ``chongqing_areas.csv`` every area check
uses, or the list received from a higher instance in its place, cityshare.code_lists): a 区县
instance needs a district code listed there, a 市 instance the code of a province-level city in it
(``500000``), the 国家 instance ``000000`` (GB/T 2260 has no code for the country; 000000 is the conventional
national code of the 政务数据共享 cascade). A wrong identity stops
``serve`` and ``federation`` commands with a one-line message naming the variable.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any

import yaml

from cityshare.errors import CityShareError
from cityshare.settings import Settings, get_settings

LEVELS = ("国家", "市", "区县")
NATIONAL_AREA = "000000"
# The original single-instance deployment: its directory codes stay 5-digit sequences (docs/federation.md).
DEFAULT_AREA = "500000"
PROVINCE_NAMES = {"50": "重庆市"}  # province-level names for the provinces present in the reference data
CATALOG_FILE = "federation.yml"  # catalog/federation.yml: the lower instances it harvests, the higher ones it hears


class IdentityError(CityShareError):
    """The instance identity settings are inconsistent with the reference data."""


@dataclass(frozen=True)
class Instance:
    """This instance as peers and the directory see it."""

    level: str
    area: str
    area_name: str
    name: str

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "area": self.area, "area_name": self.area_name, "name": self.name}

    @property
    def label(self) -> str:
        """``区县级平台 · 南岸区（500108）``: what the portal header shows."""
        return f"{self.level}级平台 · {self.area_name}（{self.area}）"


def reference_areas(settings: Settings) -> dict[str, str]:
    """GB/T 2260 code → name: the districts of the reference data, their provinces and the country."""
    from cityshare.code_lists import code_list_path

    seed = code_list_path(settings, "chongqing_areas")  # the list received from above, else the seed
    areas = {NATIONAL_AREA: "中华人民共和国"}
    with seed.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            areas[row["code"]] = row["name"]
            province = row["province_code"]
            areas.setdefault(f"{province}0000", PROVINCE_NAMES.get(province, f"{province}0000"))
    return areas


def level_of(area: str) -> str:
    """The level a GB/T 2260 code denotes: 000000 国家, xx0000 市 (province-level city), else 区县."""
    if area == NATIONAL_AREA:
        return "国家"
    return "市" if area.endswith("0000") else "区县"


def check_identity(level: str, area: str, areas: dict[str, str], where: str = "CITYSHARE_INSTANCE") -> str:
    """The area's name, or IdentityError naming the setting and rule."""
    if level not in LEVELS:
        raise IdentityError(f"{where}_LEVEL={level!r}: must be one of {', '.join(LEVELS)}")
    if area not in areas:
        raise IdentityError(f"{where}_AREA={area!r}: not a GB/T 2260 code in the reference data "
                            "(dbt_project/seeds/chongqing_areas.csv; 000000 for the national platform)")
    if level_of(area) != level:
        raise IdentityError(f"{where}_AREA={area} ({areas[area]}) is a {level_of(area)}-level code, but "
                            f"{where}_LEVEL is {level}")
    return areas[area]


def instance(settings: Settings) -> Instance:
    """This instance's validated identity (its signing key is the receipt key, cityshare.share.receipts)."""
    area_name = check_identity(settings.instance_level, settings.instance_area, reference_areas(settings))
    if not settings.instance_name:
        raise IdentityError("CITYSHARE_INSTANCE_NAME is empty: name the platform (e.g. 南岸区城市运行和治理中心)")
    return Instance(settings.instance_level, settings.instance_area, area_name, settings.instance_name)


def code_infix(settings: Settings) -> str:
    """What a new resource code's sequence starts with: nothing on the default city instance (its codes
    predate the federation and stay stable), the area code everywhere else (globally unique codes)."""
    return "" if settings.instance_area == DEFAULT_AREA else settings.instance_area


@dataclass(frozen=True)
class PeerEntry:
    """Another instance named in catalog/federation.yml: its name (a DAG id part), portal URL, level, area."""

    name: str
    endpoint: str
    level: str
    area: str
    title: str
    schedule: str = "@daily"


HARVEST_FORMATS = ("cityshare", "dcat-ap")  # what a harvest entry's endpoint serves (HarvestSource.format)


@dataclass(frozen=True)
class HarvestSource(PeerEntry):
    """A lower instance this one harvests (a ``harvest`` entry of catalog/federation.yml).

    ``format``: ``cityshare`` (default) reads the peer's incremental CityShare directory API at ``endpoint``;
    ``dcat-ap`` reads a plain DCAT-AP feed at ``endpoint`` (the feed's own URL: a CityShare instance's
    ``/catalog.ttl``, or any catalogue's DCAT-AP JSON-LD, Turtle or RDF/XML) — cityshare.federation.dcat_feed."""

    format: str = "cityshare"

    @property
    def dag_id(self) -> str:
        return f"harvest__{self.name}"


@dataclass(frozen=True)
class ReferenceSource(PeerEntry):
    """A higher instance whose code lists this one receives (a ``reference`` entry of catalog/federation.yml)."""

    lists: tuple[str, ...] = ()
    key_id: str | None = None  # pin of the higher instance's receipt key (else the key seen first is pinned)

    @property
    def dag_id(self) -> str:
        return f"reference__{self.name}"


def _entries(settings: Settings, section: str) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """The raw items of one section of catalog/federation.yml, each with where it is and the common fields
    (name, endpoint, level, area, title, schedule) checked: a DAG-id name, an endpoint, a GB/T 2260 area, a
    level below this instance's (``harvest``: a harvest goes upward) or above it (``reference``: code lists
    come down)."""
    import re

    from cityshare.contracts.model import expand

    path = settings.catalog_dir / CATALOG_FILE
    if not path.exists():
        return []
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    areas = reference_areas(settings)
    upward = section == "harvest"
    out = []
    for i, item in enumerate(raw.get(section) or []):
        where = f"{path}: {section}[{i}]"
        if not isinstance(item, dict):
            raise CityShareError(f"{where}: must be a mapping with name, endpoint, level, area")
        name, area, level = str(item.get("name") or ""), str(item.get("area") or ""), str(item.get("level") or "")
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", name):
            raise CityShareError(f"{where}.name: lower-case letters, digits and _ (a DAG id part), got {name!r}")
        if not item.get("endpoint"):
            raise CityShareError(f"{where}.endpoint: the {'lower' if upward else 'higher'} instance's portal URL "
                                 "is required")
        if area not in areas:
            raise CityShareError(f"{where}.area: {area!r} is not a GB/T 2260 code in the reference data")
        mine = LEVELS.index(settings.instance_level)
        if level not in LEVELS or (LEVELS.index(level) <= mine if upward else LEVELS.index(level) >= mine):
            raise CityShareError(f"{where}.level: {level!r} must be a level {'below' if upward else 'above'} this "
                                 f"{settings.instance_level}级 instance ("
                                 f"{'a harvest goes upward' if upward else 'reference data comes down'})")
        common = {"name": name, "endpoint": expand(str(item["endpoint"]), settings).rstrip("/"), "level": level,
                  "area": area, "title": str(item.get("title") or areas[area]),
                  "schedule": str(item.get("schedule") or "@daily")}
        out.append((where, item, common))
    return out


def harvest_sources(settings: Settings | None = None) -> list[HarvestSource]:
    """The ``harvest`` entries, checked: known name characters, a GB/T 2260 area of a lower level."""
    out = []
    for where, item, common in _entries(settings or get_settings(), "harvest"):
        fmt = str(item.get("format") or "cityshare")
        if fmt not in HARVEST_FORMATS:
            raise CityShareError(f"{where}.format: one of {', '.join(HARVEST_FORMATS)}, got {fmt!r}")
        out.append(HarvestSource(**common, format=fmt))
    return out


def reference_sources(settings: Settings | None = None) -> list[ReferenceSource]:
    """The ``reference`` entries, checked like harvest entries (a higher level) and their ``lists``: code lists
    a CityShare instance serves (cityshare.code_lists.CODE_LISTS), default all of them."""
    from cityshare.code_lists import CODE_LISTS

    out = []
    for where, item, common in _entries(settings or get_settings(), "reference"):
        lists = item.get("lists") or list(CODE_LISTS)
        if not isinstance(lists, list) or not lists or any(str(n) not in CODE_LISTS for n in lists):
            raise CityShareError(f"{where}.lists: a list of code lists out of {', '.join(CODE_LISTS)}, got {lists!r}")
        key = item.get("receiptKeyId")
        out.append(ReferenceSource(**common, lists=tuple(dict.fromkeys(str(n) for n in lists)),
                                   key_id=str(key) if key else None))
    return out


def get_source(name: str, settings: Settings) -> HarvestSource:
    for source in harvest_sources(settings):
        if source.name == name:
            return source
    raise CityShareError(f"{settings.catalog_dir / CATALOG_FILE}: no harvest entry named {name!r}")


def get_reference_source(name: str, settings: Settings) -> ReferenceSource:
    for source in reference_sources(settings):
        if source.name == name:
            return source
    raise CityShareError(f"{settings.catalog_dir / CATALOG_FILE}: no reference entry named {name!r}")
