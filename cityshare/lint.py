"""Validate contracts: the official ODCS JSON Schema, then the national sharing rules.

Rules from 《政务信息资源目录编制指南》 and 国发〔2016〕51号: 无条件共享 needs a 共享方式; 有条件共享 needs
共享方式 and 共享条件; 不予共享 needs its legal basis. Every error names the file and the field.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from cityshare.contracts.model import Contract, ContractError, load_contract
from cityshare.settings import Settings, get_settings
from cityshare.vocabulary import SharingType

OPEN_TYPES = ("无条件开放", "有条件开放", "不予开放")
UPDATE_CYCLES = ("实时", "每日", "每周", "每月", "每季度", "每半年", "每年", "其他")


# The official ODCS JSON Schema of each apiVersion: the newest ships with the locked `open-data-contract-standard`
# package; older ones are vendored unchanged from PyPI packages in cityshare/contracts/schemas/ (README there
# names each file's source: open-data-contract-standard 3.0.1, datacontract-cli 1.2.8).
_VENDORED = resources.files("cityshare.contracts").joinpath("schemas")


@cache
def odcs_schema_files() -> dict[str, Traversable]:
    """apiVersion → its official JSON Schema file (versions without one are rejected by the lint)."""
    files = {f.name.removeprefix("odcs-").removesuffix(".schema.json"): f
             for f in _VENDORED.iterdir() if f.name.endswith(".schema.json")}
    packaged = resources.files("open_data_contract_standard").joinpath("schema.json")
    files[json.loads(packaged.read_text("utf-8"))["properties"]["apiVersion"]["default"]] = packaged
    return files


@cache
def odcs_validator(api_version: str) -> Any:
    """The compiled validator of one ODCS version, built once per process (a lint of 900 contracts reuses it)."""
    import jsonschema

    schema = json.loads(odcs_schema_files()[api_version].read_text("utf-8"))
    return jsonschema.Draft201909Validator(schema)


def schema_errors(path: Path, raw: Any) -> list[ContractError]:
    """Violations of the official JSON Schema of the ODCS version the contract declares, each with its JSON path."""
    version = raw.get("apiVersion")
    if version not in odcs_schema_files():
        known = ", ".join(sorted(odcs_schema_files()))
        return [ContractError(path, "apiVersion", f"unknown ODCS version {version!r}; declare one of {known}")]
    if fast_validator(version).is_valid(raw):  # the common case, ~500× faster; messages only for the invalid
        return []
    return [
        ContractError(path, e.json_path, f"ODCS {version}: {e.message[:300]}")
        for e in sorted(odcs_validator(version).iter_errors(raw), key=lambda e: e.json_path)
    ]


@cache
def fast_validator(api_version: str) -> Any:
    """The same schema compiled by jsonschema-rs: a yes/no answer at 0.2 ms instead of ≈ 30–80 ms per contract,
    so linting a city's thousands of contracts takes seconds. Any "no" is explained by :func:`odcs_validator`."""
    import jsonschema_rs

    return jsonschema_rs.Draft201909Validator(json.loads(odcs_schema_files()[api_version].read_text("utf-8")))


def semantic_errors(contract: Contract, settings: Settings) -> list[ContractError]:
    """Sharing-attribute, provider and rule checks that the JSON Schema cannot express."""
    errors: list[ContractError] = []
    p, c = contract.path, contract.custom

    def err(field: str, msg: str) -> None:
        errors.append(ContractError(p, field, msg))

    def err_all(found: list[ContractError]) -> None:
        errors.extend(found)

    err_all(_provider_errors(contract, settings))
    err_all(portability_errors(contract))
    sharing = c.get("sharingType")
    if sharing not in list(SharingType):
        err("customProperties.sharingType", f"must be one of {SharingType.names_zh()}, got {sharing!r}")
    if sharing in (SharingType.UNCONDITIONAL, SharingType.CONDITIONAL) and not c.get("sharingMethod"):
        err("customProperties.sharingMethod", f"{sharing} needs a 共享方式 (sharingMethod)")
    if sharing == SharingType.CONDITIONAL and not c.get("sharingCondition"):
        err("customProperties.sharingCondition", "有条件共享 needs a 共享条件 (sharingCondition)")
    if sharing == SharingType.NOT_SHARED and not c.get("legalBasis"):
        err("customProperties.legalBasis", "不予共享 needs its legal or policy basis (legalBasis)")
    if c.get("openType") and c["openType"] not in OPEN_TYPES:
        err("customProperties.openType", f"must be one of {'/'.join(OPEN_TYPES)}")
    if c.get("updateCycle") not in UPDATE_CYCLES:
        err("customProperties.updateCycle", f"must be one of {'/'.join(UPDATE_CYCLES)}")
    if str(c.get("classification", "")).count("/") != 2:
        err("customProperties.classification", "must be 类/项/目, e.g. 3/01/001")
    else:
        from cityshare.classification import classify

        try:
            classify(contract, settings.catalog_dir)
        except ValueError as exc:
            field, _, message = str(exc).partition(": ")
            err(field, message)
    names = [prop.name for prop in contract.properties]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        err("schema[0].properties", f"duplicate column names: {', '.join(dupes)}")
    if contract.kind == "source":
        from cityshare.sources import SERVER_KINDS, server_kind

        kind, fmt = server_kind(contract) if contract.raw.get("servers") else (None, None)
        if (kind, fmt) not in SERVER_KINDS:
            err("servers[0].type", "connectors read `local` (format csv/xlsx/jsonl/sqlite), `api`, "
                "`postgresql` and `custom` + serverType `cityshare` (another instance) servers, got type "
                f"{kind!r}" + (f" format {fmt!r}" if fmt else ""))
        err_all(_pii_errors(contract))
    elif not contract.table.get("physicalName"):
        err("schema[0].physicalName", "a published contract names its dbt model in physicalName")
    else:
        err_all(_model_errors(contract, settings))
    return errors


def _provider_errors(contract: Contract, settings: Settings) -> list[ContractError]:
    """The provider is registered, or the contract declares it (a new department's first contract)."""
    from cityshare.departments import catalog_departments, declared_department
    from cityshare.identifiers import is_valid_uscc

    if contract.department in catalog_departments(settings.catalog_dir):
        return []
    if not contract.department:
        return [ContractError(contract.path, "team.name", "names no provider department (its slug, e.g. cgj)")]
    declared = declared_department(contract) if contract.kind == "source" else None
    if declared is None:
        from cityshare.departments import registry

        if contract.department in registry(settings):  # declared by another of its contracts
            return []
        return [ContractError(contract.path, "team.name", f"provider {contract.department!r} is not in "
                              "catalog/departments.yml; a new department's source contract declares it with "
                              "team.description (full name) and customProperties.providerCode (统一社会信用代码)")]
    if not is_valid_uscc(declared["provider_code"]):
        return [ContractError(contract.path, "customProperties.providerCode",
                              f"{declared['provider_code']!r} is not a valid 统一社会信用代码 (GB 32100 check character)")]
    return []


def portability_errors(contract: Contract) -> list[ContractError]:
    """Rules in ODCS's own form wherever it has one, so another ODCS implementation reads them the same way:
    a fixed range is ``logicalTypeOptions.minimum/maximum`` (CityShare's ``arguments`` range is for
    load-date-relative bounds only), a text length is ``logicalTypeOptions.maxLength`` (``VARCHAR(N)``
    is a physical hint other tools do not check), and a ``sql`` rule counts the failing rows. CityShare's own
    rules stay where other tools skip them: load-date-relative bounds in ``arguments``, the volume anomaly as a
    ``custom`` rule."""
    from cityshare.contracts.document import declared_max_length
    from cityshare.contracts.rules import VOLUME_ANOMALY_FORM, failing_rows_query, load_date_relative

    errors: list[ContractError] = []
    raw_properties = contract.table.get("properties") or []
    checks = [(f"schema[0].quality[{i}]", c) for i, c in enumerate(contract.table_quality())]
    for i, prop in enumerate(raw_properties):
        where = f"schema[0].properties[{i}]"
        checks += [(f"{where}.quality[{j}]", c) for j, c in enumerate(prop.get("quality") or [])]
        options = prop["logicalTypeOptions"] if isinstance(prop.get("logicalTypeOptions"), dict) else {}
        relative = sorted(k for k, v in options.items() if load_date_relative(v))
        if relative:
            errors.append(ContractError(contract.path, f"{where}.logicalTypeOptions",
                                        f"{relative}: a bound relative to the load date is CityShare's, not ODCS's: "
                                        "put it in a quality rule's arguments (invalidValues, arguments: {minimum: loadDate-N})"))
        sized = declared_max_length({"physicalType": prop.get("physicalType")})
        if sized is not None and options.get("maxLength") != sized:
            errors.append(ContractError(contract.path, f"{where}.logicalTypeOptions.maxLength",
                                        f"column {prop.get('name')}: {prop.get('physicalType')} declares a length; "
                                        f"say it the ODCS way too: logicalTypeOptions: {{maxLength: {sized}}}"))
    for where, check in checks:
        if check.get("type") == "sql":
            try:
                failing_rows_query(contract, where, check)
            except ContractError as exc:
                errors.append(exc)
        args = check.get("arguments") or {}
        if args.get("anomaly"):
            errors.append(ContractError(contract.path, f"{where}.arguments.anomaly",
                                        f"a volume anomaly rule is CityShare's, not a second rowCount: {VOLUME_ANOMALY_FORM}"))
        fixed = {k: args[k] for k in ("minimum", "maximum") if k in args and not load_date_relative(args[k])}
        if fixed:
            errors.append(ContractError(contract.path, f"{where}.arguments",
                                        f"a fixed range {fixed} is ODCS logicalTypeOptions on the column "
                                        "(minimum/maximum); arguments.minimum/maximum are for loadDate-relative bounds"))
    return errors


def _pii_errors(contract: Contract) -> list[ContractError]:
    """A PII column names a masking kind the standard model knows."""
    from cityshare.standard_model import PII_KINDS

    return [ContractError(contract.path, f"schema[0].properties[{i}].customProperties.pii",
                          f"column {p.name}: unknown PII kind {p.pii!r}; known: {', '.join(PII_KINDS)}")
            for i, p in enumerate(contract.properties) if p.pii is not None and p.pii not in PII_KINDS]


def _model_errors(contract: Contract, settings: Settings) -> list[ContractError]:
    """A published contract's model exists: written by hand, or derived from the source it publishes."""
    from cityshare.standard_model import published_source
    from cityshare.transform import hand_written_models

    source = published_source(contract)
    if source is not None:
        if not (settings.contracts_dir / f"{source}.odcs.yaml").exists() or source.startswith("shared/"):
            return [ContractError(contract.path, "customProperties.sourceDataset",
                                  f"{source!r} is not a source contract (<department>/<dataset>)")]
        if contract.model_name in hand_written_models(settings):
            return [ContractError(contract.path, "schema[0].physicalName",
                                  f"{contract.model_name} is both a hand-written model and derived from {source}")]
        return []
    if contract.model_name not in hand_written_models(settings):
        return [ContractError(contract.path, "schema[0].physicalName",
                              f"no dbt model {contract.model_name} (dbt_project/models/**/{contract.model_name}.sql); "
                              "to publish a source's standard table without SQL set customProperties.sourceDataset")]
    return []


# Column names and business names that look like personal information (个人信息) but carry no ``pii`` kind.
_PII_HINTS = {
    "id_number": ("身份证", "证件号", "id_card", "idcard", "id_number", "sfzh"),
    "mobile": ("手机", "电话", "联系方式", "mobile", "phone", "tel"),
    "person_name": ("姓名", "联系人", "person_name"),
    "address": ("住址", "居住地址", "家庭地址", "home_address"),
}


def lint_warnings(contract: Contract) -> list[ContractError]:
    """Advisory findings (告警): a source column that looks like personal information but is not classified."""
    if contract.kind != "source":
        return []
    out = []
    for i, p in enumerate(contract.properties):
        if p.pii is not None:
            continue
        text = f"{p.name} {p.business_name}".lower()
        kind = next((k for k, hints in _PII_HINTS.items() if any(h in text for h in hints)), None)
        if kind:
            out.append(ContractError(contract.path, f"schema[0].properties[{i}]",
                                     f"column {p.name} ({p.business_name}) looks like {kind}; classify it: "
                                     f"customProperties: [{{property: pii, value: {kind}}}] (masked in the standard layer)"))
    return out


def lint_file(path: Path, settings: Settings | None = None) -> list[ContractError]:
    """Every problem of one contract file (empty list: valid)."""
    settings = settings or get_settings()
    try:
        contract = load_contract(path)
    except ContractError as exc:
        return [exc]
    return contract_errors(contract, settings)


def contract_errors(contract: Contract, settings: Settings) -> list[ContractError]:
    """Every problem of one parsed contract: the ODCS JSON Schema, then the sharing rules."""
    return schema_errors(contract.path, contract.raw) + semantic_errors(contract, settings)


def lint_all(settings: Settings | None = None) -> dict[Path, list[ContractError]]:
    """Every contract's problems, plus what only shows across files: an ``id`` used by two contracts.

    Reads the compiled catalogue, so only contracts changed since it was written are parsed again."""
    from cityshare.contracts.compiled import catalogue

    settings = settings or get_settings()
    compiled = catalogue(settings)
    by_path = {c.path: c for c in compiled.contracts}
    results = {path: [compiled.errors[path]] if path in compiled.errors else contract_errors(by_path[path], settings)
               for path in compiled.paths}
    owners: dict[str, Path] = {}
    for path in results:
        if path not in by_path:
            continue
        contract_id = str(by_path[path].raw.get("id") or "")
        if contract_id in owners:
            results[path].append(ContractError(path, "id", f"{contract_id!r} is already the id of {owners[contract_id]}"))
        owners.setdefault(contract_id, path)
    return results
