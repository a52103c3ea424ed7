"""Validate contracts: the official ODCS JSON Schema, then the national sharing rules.

Rules from 《政务信息资源目录编制指南》 and 国发〔2016〕51号: 无条件共享 needs a 共享方式; 有条件共享 needs
共享方式 and 共享条件; 不予共享 needs its legal basis. Every error names the file and the field.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from cityshare.contracts.model import Contract, ContractError, contract_paths, load_contract
from cityshare.settings import Settings, get_settings

SHARING_TYPES = ("无条件共享", "有条件共享", "不予共享")
OPEN_TYPES = ("无条件开放", "有条件开放", "不予开放")
UPDATE_CYCLES = ("实时", "每日", "每周", "每月", "每季度", "每半年", "每年", "其他")


@cache
def odcs_schema() -> dict[str, Any]:
    """The ODCS JSON Schema shipped by the ``open-data-contract-standard`` package."""
    text = resources.files("open_data_contract_standard").joinpath("schema.json").read_text("utf-8")
    return json.loads(text)


@cache
def departments(catalog_dir: Path) -> dict[str, dict[str, str]]:
    data = yaml.safe_load((catalog_dir / "departments.yml").read_text(encoding="utf-8"))
    return data["departments"]


def schema_errors(path: Path, raw: Any) -> list[ContractError]:
    """ODCS JSON Schema violations, one ContractError per violation with its JSON path."""
    import jsonschema

    validator = jsonschema.Draft201909Validator(odcs_schema())
    return [
        ContractError(path, e.json_path, e.message[:300])
        for e in sorted(validator.iter_errors(raw), key=lambda e: e.json_path)
    ]


def semantic_errors(contract: Contract, settings: Settings) -> list[ContractError]:
    """Sharing-attribute, provider and rule checks that the JSON Schema cannot express."""
    errors: list[ContractError] = []
    p, c = contract.path, contract.custom

    def err(field: str, msg: str) -> None:
        errors.append(ContractError(p, field, msg))

    if contract.department not in departments(settings.catalog_dir):
        err("team.name", f"provider {contract.department!r} is not in catalog/departments.yml")
    sharing = c.get("sharingType")
    if sharing not in SHARING_TYPES:
        err("customProperties.sharingType", f"must be one of {'/'.join(SHARING_TYPES)}, got {sharing!r}")
    if sharing in ("无条件共享", "有条件共享") and not c.get("sharingMethod"):
        err("customProperties.sharingMethod", f"{sharing} needs a 共享方式 (sharingMethod)")
    if sharing == "有条件共享" and not c.get("sharingCondition"):
        err("customProperties.sharingCondition", "有条件共享 needs a 共享条件 (sharingCondition)")
    if sharing == "不予共享" and not c.get("legalBasis"):
        err("customProperties.legalBasis", "不予共享 needs its legal or policy basis (legalBasis)")
    if c.get("openType") and c["openType"] not in OPEN_TYPES:
        err("customProperties.openType", f"must be one of {'/'.join(OPEN_TYPES)}")
    if c.get("updateCycle") not in UPDATE_CYCLES:
        err("customProperties.updateCycle", f"must be one of {'/'.join(UPDATE_CYCLES)}")
    if str(c.get("classification", "")).count("/") != 2:
        err("customProperties.classification", "must be 类/项/目, e.g. 3/01/001")
    names = [prop.name for prop in contract.properties]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        err("schema[0].properties", f"duplicate column names: {', '.join(dupes)}")
    if contract.kind == "source":
        from cityshare.sources import SERVER_KINDS

        server = (contract.raw.get("servers") or [{}])[0]
        kind = server.get("type")
        fmt = str(server.get("format") or "csv").lower() if kind == "local" else None
        if (kind, fmt) not in SERVER_KINDS:
            err("servers[0].type", "connectors read `local` (format csv/xlsx/jsonl/sqlite), `api` and "
                f"`postgresql` servers, got type {kind!r}" + (f" format {fmt!r}" if fmt else ""))
    elif not contract.table.get("physicalName"):
        err("schema[0].physicalName", "a published contract names its dbt model in physicalName")
    return errors


def lint_file(path: Path, settings: Settings | None = None) -> list[ContractError]:
    """Every problem of one contract file (empty list: valid)."""
    settings = settings or get_settings()
    try:
        contract = load_contract(path)
    except ContractError as exc:
        return [exc]
    errors = schema_errors(path, contract.raw)
    return errors + semantic_errors(contract, settings)


def lint_all(settings: Settings | None = None) -> dict[Path, list[ContractError]]:
    settings = settings or get_settings()
    return {path: lint_file(path, settings) for path in contract_paths(settings)}
