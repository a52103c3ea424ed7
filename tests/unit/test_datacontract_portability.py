"""datacontract-cli and CityShare's gate agree on every standard-form rule of a contract (issue #25, portable contracts).

The contracts are plain ODCS v3.1.0, so another tool reading them must find what the gate finds. The simulator
delivers one day, defects included, for a few departments; the gate lands and checks each batch; then
``datacontract test`` (pinned and isolated: tests/datacontract_tool.py) runs the same contract on the same landed
Parquet file. Every check it runs that is the standard form of a gate rule must reach the gate's verdict with the
gate's count of bad rows.

Only batches whose type rules found nothing are compared: datacontract-cli loads a Parquet file by inserting its
text columns (贴源, all VARCHAR) into a table typed from the contract, so one value that does not cast stops its
whole run. The data is never changed to make it pass.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from cityshare.contracts.document import Contract
from cityshare.contracts.model import get_contract
from cityshare.contracts.rules import compile_rules
from cityshare.errors import GateBlocked
from cityshare.ingest import gate_batch, land_batch
from cityshare.lake import batch_dir
from cityshare.meta.quality import batch_results
from cityshare.settings import get_settings
from cityshare.simulate import simulate
from cityshare.warehouse import connect
from tests.datacontract_tool import TOOL, requires_uv

pytestmark = requires_uv

DAY = dt.date(2026, 11, 25)
# Sources whose simulated defects break standard-form rules (missing values, duplicate keys, bad formats,
# out-of-range values, cross-column sql rules), delivered as CSV, JSONL and XLSX.
SOURCES = ("cgj/city_cases", "cgj/muck_truck_gps", "cgj/street_lamp_faults", "ghzrj/illegal_construction_reports",
           "jd_nanping/street_cases", "jtj/parking_occupancy", "mzj/elderly_living_alone", "zjw/bridge_sensor_readings")
MIN_COMPARED, MIN_DEFECTIVE = 6, 4  # batches compared, and of them with a failing standard rule
# Kinds of check that must fail on real defects (both tools agreeing), so each mapping is shown on bad rows too.
MUST_FAIL = {"field_required", "field_unique", "field_invalid_values"}

# One process tests every batch: starting the tool costs seconds, a batch well under one.
RUN = """
import json, sys
from datacontract.data_contract import DataContract
out = {}
for path in json.loads(sys.argv[1]):
    run = DataContract(data_contract_file=path, server="landed").test()
    out[path] = [check.model_dump(mode="json") for check in run.checks]
print(json.dumps(out, ensure_ascii=False))
"""

# datacontract-cli's checks that are no standard form of a gate rule, and why they are not compared.
EXCLUDED = {
    # It does not check types in Parquet files (it casts the file into the contract's types, see above); the gate's
    # `<col>_type` and castTo rules are what decides which batches are compared at all.
    "field_type": "types are not checked in Parquet files",
    "field_physical_type": "types are not checked in Parquet files",
    # Its SLA checks are freshness and retention; CityShare's freshness rule measures the latency SLA and the update
    # cycle from the batch's load date, an extension of its own.
    "servicelevel_freshness": "CityShare's freshness is relative to the load date",
    "servicelevel_retention": "CityShare's freshness is relative to the load date",
    # A lint finding datacontract-cli reports with the test, not a measurement of the data.
    "lint": "a lint finding, not a check of the data",
    # An exclusive bound becomes field_minimum/field_maximum plus field_not_equal, whose keys collide when both
    # bounds are exclusive (or one bound is given both ways): one of the colliding checks is then never set.
    "field_not_equal": "an exclusive bound is split into two checks whose keys can collide",
}
# Quality-rule arguments only CityShare's compiler runs (datacontract-cli reports such a rule as a warning and does
# not run it): code tables from dbt seeds, another dataset, identifier check digits, castTo, and ranges in the
# rule's arguments (literal ones are standard as logicalTypeOptions — the lint insists —, load-date-relative ones
# never). The volume anomaly is a `custom` rule of the `cityshare` engine, which datacontract-cli does not run.
EXTENSION_ARGUMENTS = {"referenceSeed", "referenceDataset", "checkDigit", "castTo", "minimum", "maximum"}
# logicalTypeOptions checks → the suffix of the gate rule the same option compiles to (`<col>_<suffix>`)
OPTION_RULES = {"field_min_length": "min_length", "field_max_length": "max_length", "field_minimum": "minimum",
                "field_maximum": "maximum", "field_regex": "pattern"}


@dataclass
class Batch:
    """A landed and gated batch: its raw Parquet file and the gate's result of every rule."""

    contract: Contract
    load_id: str
    path: Path
    rows: int
    gate: dict[str, dict[str, Any]]


@dataclass
class Mapped:
    """A datacontract-cli check as the gate rule it is the standard form of, with datacontract-cli's count in the
    gate's measure (``rows``: the count is the batch's row count, not bad rows)."""

    rule: str
    count: int | None
    rows: bool = False


@pytest.fixture(scope="module")
def batches(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Batch]]:
    """One simulated day of SOURCES, landed and gated (blocked batches too: their results are recorded)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CITYSHARE_DATA_DIR", str(tmp_path_factory.mktemp("portability") / "data"))
        settings = get_settings()
        simulate(settings, days=1, start=DAY, scale=0.4, defect_rate=0.05, seed=5,
                 departments=sorted({key.split("/")[0] for key in SOURCES}))
        landed = []
        for key in SOURCES:
            batch = land_batch(key, DAY, settings)
            with contextlib.suppress(GateBlocked):
                gate_batch(key, DAY, batch["load_id"], settings)
            landed.append((get_contract(key, settings), batch))
        with connect(settings, read_only=True) as con:
            found = [Batch(contract, b["load_id"], Path(batch_dir(settings, "raw", contract, DAY, b["load_id"]))
                           / "part-0.parquet", b["rows"], batch_results(con, contract.key, b["load_id"]))
                     for contract, b in landed]
        yield found


def _not_comparable(batch: Batch) -> str | None:
    """Why datacontract-cli cannot test this batch, or None."""
    blocked = sorted(rule for rule, r in batch.gate.items() if r["level"] == "batch" and not r["success"])
    if blocked:
        return f"blocked by {blocked}: the gate ran no row rules"
    cast_rules = {r.name for r in compile_rules(batch.contract) if r.kind == "type"} | {
        check.get("name") or f"{p.name}_rule_{i + 1}" for p in batch.contract.properties
        for i, check in enumerate(p.quality) if "castTo" in (check.get("arguments") or {})}
    uncast = sorted(rule for rule in cast_rules if (batch.gate.get(rule) or {}).get("failed"))
    return f"values that do not cast ({uncast}) would stop datacontract-cli's typed load" if uncast else None


def _portable_copy(batch: Batch, folder: Path) -> Path:
    """The batch's contract as it is, with one local server: its landed Parquet file.

    Nothing else is removed: the lint keeps out what would make datacontract-cli misread the rest (a second
    rowCount rule sharing the first one's check key — the volume anomaly is a ``custom`` rule —, and
    load-date-relative bounds in logicalTypeOptions, which it would compare with a date)."""
    doc = yaml.safe_load(batch.contract.path.read_text(encoding="utf-8"))
    doc["servers"] = [{"server": "landed", "type": "local", "format": "parquet", "path": str(batch.path)}]
    path = folder / f"{batch.contract.key.replace('/', '__')}.odcs.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _datacontract_test(contracts: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """Contract file → the checks of its ``datacontract test`` run."""
    done = subprocess.run([*TOOL, "python", "-c", RUN, json.dumps([str(p) for p in contracts])],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _map(check: dict[str, Any], contract: Contract) -> Mapped | str:
    """The gate rule a datacontract-cli check is the standard form of; or why it is not compared (``excluded: …``)
    or cannot be matched (anything else, a failure)."""
    kind, field = check["type"], check.get("field")
    diagnostics = check.get("diagnostics") or {}
    value = diagnostics.get("value")
    definition = yaml.safe_load(check.get("qualityDefinition") or "{}") or {}
    if kind in EXCLUDED:
        return f"excluded: {EXCLUDED[kind]}"
    if kind == "field_is_present":
        return Mapped(f"column_present:{field}", None if "present" not in diagnostics else int(not diagnostics["present"]))
    if kind in ("field_required", "field_primary_key_required"):
        return Mapped(f"{field}_required", value)
    if kind in ("field_unique", "field_primary_key_unique", "primary_key_unique"):
        # datacontract-cli counts the duplicated keys (value) and reports the rows they span (failed_rows); the gate
        # counts the later copies it quarantines (the first delivered row of a key stays): rows − keys.
        key = frozenset(diagnostics.get("columns") or [field])
        names = [r.name for r in compile_rules(contract) if r.kind == "unique" and frozenset(r.params["key"]) == key]
        if not names:
            return f"no gate uniqueness rule on {sorted(key)}"
        failed_rows = diagnostics.get("failed_rows")
        return Mapped(names[0], None if value is None or failed_rows is None else failed_rows - value)
    if kind in OPTION_RULES:
        prop = next((p for p in contract.table.get("properties") or [] if p.get("name") == field), {})
        options = prop.get("logicalTypeOptions") or {}
        if kind in ("field_minimum", "field_maximum") and {"exclusiveMinimum", "exclusiveMaximum"} & set(options):
            return f"excluded: {EXCLUDED['field_not_equal']}"
        return Mapped(f"{field}_{OPTION_RULES[kind]}", value)
    if kind in ("field_quality_library", "model_quality_library"):
        extensions = sorted(EXTENSION_ARGUMENTS & set(definition.get("arguments") or {}))
        if extensions:
            return f"excluded: CityShare arguments {extensions}"
        return f"a library rule datacontract-cli did not run: {check.get('reason')}"
    if kind in ("field_invalid_values", "field_null_values", "field_missing_values", "field_quality_sql",
                "model_quality_sql", "row_count"):
        if not definition.get("name"):
            return "a rule without a name to find its gate rule by"
        # rowCount: datacontract-cli's value is the row count; the gate records the rule as passed/failed (0/1)
        return Mapped(str(definition["name"]), value, rows=kind == "row_count")
    return f"check type {kind} is not mapped to a gate rule"


def _verdict(check: dict[str, Any]) -> str:
    """datacontract-cli's verdict as the gate's: a measured check that is not passed failed (a ``warning`` is a
    failed rule of ``severity: warning``, as the gate's advisory rules fail without quarantining)."""
    return "passed" if check.get("result") == "passed" else "failed"


def test_datacontract_cli_reaches_the_gates_verdict_and_count_on_every_standard_rule(batches, tmp_path):
    comparable = [b for b in batches if _not_comparable(b) is None]
    left_out = {b.contract.key: _not_comparable(b) for b in batches if b not in comparable}
    assert len(comparable) >= MIN_COMPARED, f"only {len(comparable)} batches to compare; left out: {left_out}"
    copies = {_portable_copy(b, tmp_path).as_posix(): b for b in comparable}
    runs = _datacontract_test([Path(p) for p in copies])

    problems, compared, failing, defective = [], 0, set(), set()
    for path, checks in runs.items():
        batch = copies[path]
        where = f"{batch.contract.key} batch {batch.load_id}"
        for check in checks:
            mapped = _map(check, batch.contract)
            if isinstance(mapped, str):
                if not mapped.startswith("excluded:"):
                    problems.append(f"{where}: datacontract-cli check {check.get('key') or check['type']} "
                                    f"({check.get('result')}: {check.get('reason')}): {mapped}")
                continue
            gate = batch.gate.get(mapped.rule)
            if gate is None:
                problems.append(f"{where}: rule {mapped.rule}: the gate recorded no result "
                                f"(datacontract-cli check {check['key']})")
                continue
            if mapped.count is None:
                problems.append(f"{where}: rule {mapped.rule}: datacontract-cli did not measure it "
                                f"({check.get('result')}: {check.get('reason')})")
                continue
            ours = "passed" if gate["success"] else "failed"
            if gate["error"]:
                ours = f"error ({gate['error']})"
            theirs, our_count = _verdict(check), batch.rows if mapped.rows else gate["failed"]
            compared += 1
            if (theirs, mapped.count) != (ours, our_count):
                problems.append(f"{where}: rule {mapped.rule}: datacontract-cli {theirs} with count {mapped.count}, "
                                f"gate {ours} with count {our_count} (check {check['key']})")
            elif ours == "failed":
                failing.add(check["type"])
                defective.add(batch.contract.key)
    assert not problems, "\n".join([f"{len(problems)} disagreement(s); the contract copies tested: {tmp_path}",
                                     *problems])
    assert len(defective) >= MIN_DEFECTIVE, f"a failing standard rule only in {sorted(defective)}: too few defects"
    assert not MUST_FAIL - failing, f"no defect shown for {sorted(MUST_FAIL - failing)} ({compared} checks compared)"
