"""One ODCS v3 YAML contract as a small typed object: parsing and the contract's own accessors.

Only YAML parsing happens here (no heavy imports), because the DAG factory calls this at parse time. Loading the
whole catalogue is cityshare.contracts.model (through the compiled catalogue, cityshare.contracts.compiled).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import yaml

from cityshare.settings import Settings, get_settings


class ContractError(ValueError):
    """A contract (or an input checked against it) is invalid; the message names file and field."""

    def __init__(self, path: Path | str, field_path: str, message: str) -> None:
        self.path = str(path)
        self.field_path = field_path
        self.message = message
        super().__init__(f"{path}: {field_path}: {message}")


@dataclass(frozen=True)
class Property:
    """One column of a contract's table."""

    name: str
    business_name: str
    logical_type: str
    physical_type: str
    required: bool
    unique: bool
    primary_key_position: int | None
    classification: str | None
    custom: dict[str, Any]
    quality: list[dict[str, Any]]
    max_length: int | None = None  # declared text length in characters (VARCHAR(N) / logicalTypeOptions.maxLength)

    @property
    def pii(self) -> str | None:
        """The PII kind (mobile, id_number, person_name) of a raw column, if any."""
        return self.custom.get("pii")

    @property
    def masking(self) -> str | None:
        """The masking applied to a published column, if any."""
        return self.custom.get("masking")


@dataclass
class Contract:
    """An ODCS contract for one dataset (a department source or a published table)."""

    path: Path
    raw: dict[str, Any]

    @property
    def column_names(self) -> list[str]:
        """The table's column names, without building every Property (cheap for thousands of contracts)."""
        return [p["name"] for p in self.table.get("properties") or []]

    @cached_property
    def properties(self) -> list[Property]:
        """The table's columns, built on first use (a city's catalogue has ≈ 30,000: most processes read few)."""
        return [_property(p) for p in self.table.get("properties") or []]

    # -- identity -------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return str(self.raw["id"])

    @property
    def name(self) -> str:
        """Chinese resource name (信息资源名称)."""
        return str(self.raw.get("name", self.dataset))

    @property
    def department(self) -> str:
        """Provider department slug (``team.name``), e.g. ``cgj``."""
        team = self.raw.get("team") or {}
        return team.get("name", "") if isinstance(team, dict) else ""

    @property
    def kind(self) -> str:
        """``source`` for department datasets, ``shared`` for published tables."""
        return "shared" if self.path.parent.name == "shared" else "source"

    @property
    def dataset(self) -> str:
        """Dataset slug: the file stem without ``.odcs``."""
        return self.path.name.removesuffix(".odcs.yaml")

    @property
    def key(self) -> str:
        """``<department>/<dataset>`` for sources, ``shared/<dataset>`` for published tables."""
        return f"{self.path.parent.name}/{self.dataset}"

    @property
    def raw_table(self) -> str:
        """Name of the accepted-batches view in the warehouse ``raw`` schema (dbt source table)."""
        return f"{self.path.parent.name}__{self.dataset}"

    @property
    def table(self) -> dict[str, Any]:
        return cast("dict[str, Any]", self.raw["schema"][0])

    @property
    def model_name(self) -> str:
        """The dbt model (and ``shared`` table) name of a published contract."""
        return str(self.table.get("physicalName", self.table["name"]))

    @property
    def description(self) -> str:
        desc = self.raw.get("description") or {}
        return desc.get("purpose", "") if isinstance(desc, dict) else str(desc)

    @property
    def version(self) -> str:
        return str(self.raw.get("version", ""))

    @property
    def tags(self) -> list[str]:
        return list(self.raw.get("tags") or [])

    # -- sharing attributes and settings ---------------------------------------------------------
    @cached_property
    def custom(self) -> dict[str, Any]:
        return {p["property"]: p["value"] for p in self.raw.get("customProperties") or []}

    @property
    def sharing_type(self) -> str:
        return str(self.custom.get("sharingType", ""))

    @property
    def update_cycle(self) -> str:
        return str(self.custom.get("updateCycle", ""))

    @property
    def quarantine_threshold(self) -> float:
        """Largest share of failing rows with which a batch is still accepted."""
        return float(self.custom.get("quarantineThreshold", 0.05))

    @property
    def server(self) -> dict[str, Any]:
        servers = self.raw.get("servers") or []
        if not servers:
            raise ContractError(self.path, "servers", "a source contract needs one server entry")
        return cast("dict[str, Any]", servers[0])

    def server_value(self, name: str, settings: Settings | None = None) -> str:
        """A server field (``location``, ``path``) for this installation, ``${VAR}`` expanded.

        ``CITYSHARE_SERVER_<SERVER>_<FIELD>`` (see ``server_override_env``) replaces the contract's value:
        the contract keeps the department's real endpoint (a valid ODCS URI), and a demo, a test or a
        district mirror points the same server elsewhere without editing it.
        """
        override = os.environ.get(server_override_env(str(self.server.get("server") or ""), name))
        return expand(override or str(self.server[name]), settings)

    def server_option(self, name: str, default: Any = None) -> Any:
        return {p["property"]: p["value"] for p in self.server.get("customProperties") or []}.get(
            name, default
        )

    def table_quality(self) -> list[dict[str, Any]]:
        return list(self.table.get("quality") or [])

    @property
    def primary_key(self) -> list[str]:
        keyed = [p for p in self.properties if p.primary_key_position is not None]
        return [p.name for p in sorted(keyed, key=lambda p: p.primary_key_position or 0)]

    def column_by_header(self) -> dict[str, str]:
        """Map source headers (contract name or Chinese businessName) to contract names."""
        mapping: dict[str, str] = {}
        for p in self.properties:
            mapping[p.name] = p.name
            if p.business_name:
                mapping[p.business_name] = p.name
        return mapping


_ENV = re.compile(r"\$\{([A-Z0-9_]+)\}")


def server_override_env(server: str, name: str = "location") -> str:
    """The environment variable that overrides field ``name`` of server ``server`` (``parking-api`` →
    ``CITYSHARE_SERVER_PARKING_API_LOCATION``)."""
    return f"CITYSHARE_SERVER_{re.sub(r'[^A-Z0-9]+', '_', server.upper()).strip('_')}_{name.upper()}"


def expand(value: str, settings: Settings | None = None) -> str:
    """Expand ``${VAR}`` in a contract value; ``CITYSHARE_DATA_DIR`` falls back to the settings."""
    settings = settings or get_settings()
    defaults = {"CITYSHARE_DATA_DIR": str(settings.data_dir)}

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        return os.environ.get(name) or defaults.get(name, "")

    return _ENV.sub(sub, value)


_SIZED_TEXT = re.compile(r"\s*(?:N?VARCHAR|N?CHAR|CHARACTER VARYING|CHARACTER|STRING|TEXT)\s*\(\s*(\d+)\s*\)\s*",
                         re.IGNORECASE)


def declared_max_length(p: dict[str, Any]) -> int | None:
    """The length a text column may not exceed: ``VARCHAR(N)``/``CHAR(N)`` or ODCS ``logicalTypeOptions.maxLength``.

    When both are declared the stricter one holds (a value longer than either breaks the contract).
    """
    limits = []
    if m := _SIZED_TEXT.fullmatch(str(p.get("physicalType") or "")):
        limits.append(int(m.group(1)))
    options = p.get("logicalTypeOptions")
    if isinstance(options, dict) and isinstance(options.get("maxLength"), int) and not isinstance(options["maxLength"], bool):
        limits.append(options["maxLength"])
    return min(limits) if limits else None


def _property(p: dict[str, Any]) -> Property:
    custom = {c["property"]: c["value"] for c in p.get("customProperties") or []}
    # primaryKeyPosition is optional in ODCS (-1: not given): such key columns follow in declaration order
    position = p.get("primaryKeyPosition")
    pk = (position if isinstance(position, int) and position >= 0 else 10_000) if p.get("primaryKey") else None
    return Property(
        name=p["name"],
        business_name=p.get("businessName", ""),
        logical_type=p.get("logicalType", "string"),
        physical_type=p.get("physicalType", "VARCHAR"),
        required=bool(p.get("required", False)),
        unique=bool(p.get("unique", False)),
        primary_key_position=int(pk) if pk is not None else None,
        classification=p.get("classification"),
        custom=custom,
        quality=list(p.get("quality") or []),
        max_length=declared_max_length(p),
    )


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# path → (file text, parsed contract): a build reads all ~150 contracts several times (raw views, dbt sources,
# published contracts), ≈ 0.35 s of YAML per next-day build. Keyed by the text, not the mtime, so a file
# rewritten within one clock tick is still parsed again.
_PARSED: dict[Path, tuple[str, Contract]] = {}


def load_contract(path: Path | str) -> Contract:
    """Parse one contract file; structural problems raise ContractError naming the file.

    The result is shared between callers while the file is unchanged: treat it as read-only."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(path, "file", f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ContractError(path, f"byte {exc.start}", "not UTF-8 text (contracts are UTF-8 YAML)") from None
    cached = _PARSED.get(path)
    if cached and cached[0] == text:
        return cached[1]
    contract = _parse_contract(path, text)
    _PARSED[path] = (text, contract)
    return contract


def _parse_contract(path: Path, text: str) -> Contract:
    return contract_from_raw(path, parse_raw(path, text))


def parse_raw(path: Path, text: str) -> dict[str, Any]:
    """The YAML document of a contract file (a mapping), or ContractError naming the line."""
    try:
        # libyaml's safe loader when present: the same documents, ~10x faster (contracts are re-read
        # by every task; the pure-Python parser was 12 % of a small pipeline run — bench/run.py profile)
        raw = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "yaml"
        raise ContractError(path, where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ContractError(path, "(root)", "a contract must be a YAML mapping")
    return raw


def contract_from_raw(path: Path, raw: dict[str, Any]) -> Contract:
    """A Contract from its parsed document (fresh from YAML or from the compiled catalogue)."""
    schema = raw.get("schema")
    if not isinstance(schema, list) or not schema or not isinstance(schema[0], dict):
        raise ContractError(path, "schema", "needs exactly one table object with properties")
    return Contract(path=path, raw=raw)


def contract_paths(settings: Settings | None = None) -> list[Path]:
    settings = settings or get_settings()
    return sorted(settings.contracts_dir.glob("*/*.odcs.yaml"))
