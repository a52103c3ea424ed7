"""Contract → dbt SQL for the 标准库 (standard layer), so onboarding a dataset needs no hand-written SQL.

A source contract already says everything the standard model does: each column's logical type, the
primary key (one row per key, the latest load wins), the code lists a column is checked against (legacy
GB/T 2260 codes are mapped to current ones) and the personal-information kind of each PII column (masked,
and tokenized with the city-held key so datasets still join). This module renders that as the same SQL a
data engineer would write by hand with the project's macros (``dbt_project/macros/``):

    typed   -- every raw VARCHAR cast to its logical type; codes standardized; PII normalized
    latest  -- one row per primary key (or per identical row when there is none), latest load first
    final   -- PII masked (``<col>``) and tokenized (``<col>_token``); load metadata kept

Incremental like the hand-written event models: a build reads only batches the model has not seen.
A hand-written ``models/staging/<dept>/stg_<dept>__<dataset>.sql`` overrides the derived model.

A published contract with ``customProperties.sourceDataset: <dept>/<dataset>`` publishes the standard
model of that source: its model is a view selecting the contract's columns (a subset) from it.

Pure functions (no I/O): ``cityshare.transform`` writes the results into ``models/_generated/``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cityshare.contracts.model import Contract, Property

# PII kinds (个人信息类别) a source column may declare in ``customProperties: [{property: pii, value: …}]``:
# kind → (how the raw value is normalized first, masking function, whether a keyed token column is added).
# Tokens are computed from the normalized value exactly as the hand-written models do, so a token of the
# same resident ID or phone number is equal across departments.
PII_KINDS: dict[str, tuple[str, str, bool]] = {
    "id_number": ("id_number", "cs_mask_id_number", True),  # 居民身份证号 → 500112********1234 + token
    "mobile": ("phone", "cs_mask_mobile", True),  # 手机号码 → 138****5678 + token
    "person_name": ("text", "cs_mask_person_name", False),  # 姓名 → 张*
    "address": ("text", "cs_truncate_address", False),  # 地址 → cut after the street (街道/镇/乡)
}
PII_LABELS = {"id_number": "居民身份证号", "mobile": "手机号码", "person_name": "姓名", "address": "地址"}

# ``customProperties: [{property: standardize, value: …}]`` on a string column; also derived from its rules.
STANDARDIZE = ("upper", "area_code", "street_code")

# The load metadata a standard model keeps (``cs_load_meta()`` then ``_row_hash``), documented in its YAML entry.
LOAD_META_DOCS = {
    "_load_id": "批次编号 (load id of the accepted batch the row came from)",
    "_loaded_at": "入库时间 (when the landing worker loaded the batch; not used for ordering)",
    "_load_date": "数据日期 (load date: the day the delivered data describes)",
    "_source": "来源 (the delivered file or API the batch came from)",
    "_batch_seq": "批次提交序号 (commit sequence the warehouse assigns when the gate accepts the batch)",
    "_row_hash": "行哈希 (SHA-256 of the row's delivered values; deterministic tie-break)",
}

_PARSE = {"integer": "cs_parse_int", "number": "cs_parse_double", "date": "cs_parse_date",
          "timestamp": "cs_parse_timestamp", "boolean": "cs_parse_bool"}


def standard_model_name(contract: Contract) -> str:
    """``stg_<department>__<dataset>``: the standard model of a source contract."""
    return f"stg_{contract.raw_table}"


def token_column(prop: Property) -> str | None:
    """The keyed-token column the standard model adds beside a PII column, if its kind has one."""
    kind = PII_KINDS.get(prop.pii or "")
    return f"{prop.name}_token" if kind and kind[2] else None


def model_doc(contract: Contract) -> dict[str, object]:
    """The dbt YAML entry documenting a derived standard model (description and every column)."""
    cols: list[dict[str, str]] = []
    for p in contract.properties:
        kind = PII_KINDS.get(p.pii or "")
        note = f"（{PII_LABELS[p.pii or '']}，已脱敏）" if kind else ""
        cols.append({"name": p.name, "description": f"{p.business_name or p.name}{note}"})
        if token := token_column(p):
            cols.append({"name": token, "description": f"{p.business_name or p.name}令牌（HMAC-SHA256，城市密钥）"})
    cols += [{"name": name, "description": text} for name, text in LOAD_META_DOCS.items()]
    key = ", ".join(_keys(contract).dedupe)
    return {"name": standard_model_name(contract),
            "description": f"{contract.name}（标准库）, derived from contracts/{contract.key}.odcs.yaml: typed, codes "
                           f"standardized, one row per {key} (latest load wins), PII masked and tokenized.",
            "columns": cols}


def standardizations(prop: Property) -> list[str]:
    """How a string column is standardized: declared (``standardize``) plus what its rules imply."""
    declared = prop.custom.get("standardize") or []
    out = [declared] if isinstance(declared, str) else list(declared)
    for rule in prop.quality:
        args = rule.get("arguments")
        args = args if isinstance(args, dict) else {}
        seed = args.get("referenceSeed")
        if seed == "chongqing_areas" and args.get("includeLegacyCodes"):
            out.append("area_code")  # 县改区: 500228 梁平县 → 500155 梁平区
        elif seed == "chongqing_streets":
            out.append("street_code")
        if args.get("checkDigit") in ("uscc", "id_number"):
            out.append("upper")  # a lowercase check character is the same code
    return list(dict.fromkeys(out))


def _typed(prop: Property) -> str:
    col = f"'{prop.name}'"
    if prop.pii in PII_KINDS:
        norm = PII_KINDS[prop.pii][0]
        if norm == "id_number":
            return f"{{{{ cs_normalize_id_number({col}) }}}}"
        if norm == "phone":
            return f"{{{{ cs_normalize_phone({col}) }}}}"
        return f"{{{{ cs_clean({col}) }}}}"
    if prop.logical_type in _PARSE:
        return f"{{{{ {_PARSE[prop.logical_type]}({col}) }}}}"
    steps = standardizations(prop)
    expr = f"{{{{ cs_clean({col}) }}}}"
    if "street_code" in steps:
        expr = f"{{{{ cs_std_street_code({col}) }}}}"
    elif "area_code" in steps:
        expr = f"{{{{ cs_std_area_code({col}) }}}}"
    return f"upper({expr})" if "upper" in steps else expr


def _final(prop: Property) -> list[str]:
    if prop.pii not in PII_KINDS:
        return [prop.name]
    _, mask, _ = PII_KINDS[prop.pii]
    out = [f"{mask}({prop.name}) as {prop.name}"]
    if token := token_column(prop):
        out.append(f"cs_token({prop.name}) as {token}")
    return out


@dataclass(frozen=True)
class _Keys:
    dedupe: list[str]  # raw (typed) key columns: one row per key
    merge: list[str]  # the same key in the final, masked columns (a PII key is merged on its token)
    order_first: str  # what "latest" means before the load time


def _keys(contract: Contract) -> _Keys:
    by_name = {p.name: p for p in contract.properties}
    key = contract.primary_key
    if not key:  # no key declared: identical rows are one row (a re-delivery is not a duplicate)
        return _Keys(["_row_hash"], ["_row_hash"], "_load_date")
    merge = [token_column(by_name[k]) or k for k in key]
    watermark = contract.server_option("watermarkColumn") if contract.raw.get("servers") else None
    order = next((p.name for p in contract.properties
                  if watermark and watermark in (p.name, p.custom.get("sourceField"))), "_load_date")
    return _Keys(key, merge, order)


def render_standard_model(contract: Contract) -> str:
    """The dbt model (Jinja SQL) of a source contract's standard table."""
    src = f"source('raw', '{contract.raw_table}')"
    keys = _keys(contract)
    width = max(len(_typed(p)) for p in contract.properties) + 2
    typed = ",\n".join(f"        {_typed(p):<{width}} as {p.name}" for p in contract.properties)
    final = ",\n".join(f"        {c}" for p in contract.properties for c in _final(p))
    not_null = " and ".join(f"{k} is not null" for k in keys.dedupe if k != "_row_hash") or "true"
    unique_key = ", ".join(f"'{k}'" for k in keys.merge)
    merge_key = ", ".join(keys.merge)
    return f"""\
-- {contract.name}（标准库）: derived from {contract.path.parent.name}/{contract.path.name} by cityshare.standard_model.
-- Generated on every build: do not edit. Override it with a hand-written
-- models/staging/{contract.department}/{standard_model_name(contract)}.sql.
-- Typed from the logical types, codes standardized, one row per {', '.join(keys.dedupe)} (latest load wins),
-- PII masked and tokenized with the city-held key. Incremental: reads only batches the model has not seen.

{{{{ config(
    materialized='incremental', incremental_strategy=cs_incremental_strategy('delete+insert'),
    partition_by=cs_partition_by(), unique_key=[{unique_key}],
    on_schema_change='fail', pre_hook="{{{{ cs_incremental_reset({src}) }}}}",
    post_hook="{{{{ cs_record_batches({src}) }}}}", tags=['standard', 'derived'],
) }}}}

with typed as (

    select
{typed},
        _load_id, _loaded_at, _load_date, _source, _row_hash, _batch_seq
    from {{{{ {src} }}}}
    where {{{{ cs_unseen_batches({src}) }}}}

),

latest as (

    select * from typed
    where {not_null}
    {{{{ cs_latest_per('{', '.join(keys.dedupe)}', '{keys.order_first}') }}}}

),

final as (

    select
{final},
        {{{{ cs_load_meta() }}}},
        _row_hash
    from latest

)

{{{{ cs_merge_latest('final', '{merge_key}', '{keys.order_first}') }}}}
"""


def published_source(contract: Contract) -> str | None:
    """The source (``<dept>/<dataset>``) whose standard model a published contract publishes, if any."""
    value = contract.custom.get("sourceDataset")
    return str(value) if value else None


def render_published_model(contract: Contract, source: Contract) -> str:
    """A view of the contract's columns over the standard model of ``source`` (no SQL in the contract)."""
    cols = ",\n".join(f"    {p.name}" for p in contract.properties)
    return f"""\
-- {contract.name}: the published view of {source.key}'s standard model, derived from
-- contracts/shared/{contract.path.name} by cityshare.standard_model. Generated on every build: do not edit.

{{{{ config(materialized='view', tags=['published', 'derived']) }}}}

select
{cols}
from {{{{ ref('{standard_model_name(source)}') }}}}
"""
