"""Contract changes: each change classified breaking or not; published contracts keep semver honest."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cityshare.cli import app
from cityshare.contracts.diff import diff_docs, diff_files

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "contracts" / "cgj" / "city_cases.odcs.yaml"


def _doc() -> dict:
    return yaml.safe_load(SOURCE.read_text(encoding="utf-8"))


def _prop(doc: dict, name: str) -> dict:
    return next(p for p in doc["schema"][0]["properties"] if p["name"] == name)


def _rule(doc: dict, column: str, name: str) -> dict:
    return next(r for r in _prop(doc, column)["quality"] if r["name"] == name)


def _custom(doc: dict, key: str, value) -> None:
    doc["customProperties"] = [c for c in doc["customProperties"] if c["property"] != key]
    doc["customProperties"].append({"property": key, "value": value})


EDITS = {
    "column removed": (lambda d: d["schema"][0]["properties"].remove(_prop(d, "address")), True),
    "retyped": (lambda d: _prop(d, "reported_at").update(logicalType="string"), True),
    "required": (lambda d: _prop(d, "address").update(required=True), True),
    "allowed values narrowed": (lambda d: _rule(d, "status", "status_valid")["arguments"]["validValues"].remove("作废"), True),
    "allowed values widened": (lambda d: _rule(d, "status", "status_valid")["arguments"]["validValues"].append("挂起"), False),
    "minimum": (lambda d: _rule(d, "reported_at", "reported_at_in_window")["arguments"].update(minimum="loadDate-7"), True),
    "quarantineThreshold": (lambda d: _custom(d, "quarantineThreshold", 0.02), True),
    "optional column added": (lambda d: d["schema"][0]["properties"].append({"name": "remark", "logicalType": "string"}), False),
    "rule removed": (lambda d: _prop(d, "reporter_phone").pop("quality"), False),
    "rule added": (lambda d: _prop(d, "address").update(
        quality=[{"type": "library", "metric": "nullValues", "name": "address_present"}]), True),
    "physicalType VARCHAR(200) → VARCHAR(300)": (lambda d: _prop(d, "address").update(physicalType="VARCHAR(300)"), False),
    "extraColumns": (lambda d: _custom(d, "extraColumns", "tolerate"), False),
    "logicalTypeOptions.maxLength": (lambda d: _prop(d, "address")["logicalTypeOptions"].update(maxLength=100), True),
    "logicalTypeOptions.minimum": (lambda d: _prop(d, "reported_at").update(logicalTypeOptions={"minimum": "2020-01-01"}),
                                   True),
    # the same condition in the other form counts and selects the same rows
    "window": (lambda d: next(r for r in d["schema"][0]["quality"] if r["name"] == "volume_anomaly")["implementation"]
               .update(window=28), False),
    "volume anomaly rewritten": (lambda d: d["schema"][0]["quality"].__setitem__(1, {
        "type": "library", "metric": "rowCount", "mustBeGreaterThan": 0, "name": "volume_anomaly",
        "dimension": "completeness", "description": d["schema"][0]["quality"][1]["description"],
        "arguments": {"anomaly": True, "window": 14, "minHistory": 5, "k": 5, "minRatio": 0.3, "maxRatio": 3}}), False),
    "sql rule rewritten": (lambda d: _rule(d, "closed_at", "closed_after_reported").update(
        query="SELECT *  FROM ${table}\nWHERE try_cast(closed_at AS TIMESTAMP) < try_cast(reported_at AS TIMESTAMP)"), False),
}


@pytest.mark.parametrize("label", sorted(EDITS))
def test_each_change_is_classified(label):
    edit, breaking = EDITS[label]
    old, new = _doc(), _doc()
    edit(new)
    result = diff_docs(old, new)
    assert len(result.changes) == 1, result.changes
    change = result.changes[0]
    assert label.split(" → ")[0].split(" (")[0] in f"{change.where} {change.message}", change
    assert change.breaking is breaking
    assert result.version_ok is (not breaking)
    bumped = copy.deepcopy(new)
    bumped["version"] = "3.0.0"
    assert diff_docs(old, bumped).version_ok


def _head_version(path: Path) -> str | None:
    rel = path.relative_to(ROOT).as_posix()
    shown = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=ROOT, capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else None


@pytest.mark.parametrize("path", sorted(ROOT.glob("contracts/*/*.odcs.yaml")), ids=lambda p: p.parent.name + "/" + p.stem)
def test_contract_breaking_changes_bump_the_major_version(path, tmp_path):
    head = _head_version(path)
    if head is None:
        pytest.skip(f"{path.name} is not in HEAD yet")
    old = tmp_path / "head.odcs.yaml"
    old.write_text(head, encoding="utf-8")
    result = diff_files(old, path)
    assert result.version_ok, (f"{path.name}: breaking change(s) {[(c.where, c.message) for c in result.breaking]} "
                               f"but version {result.old_version} → {result.new_version} keeps the major")


def test_cli_diff_reports_and_fails_on_unbumped_breaking_change(tmp_path):
    new = _doc()
    _rule(new, "status", "status_valid")["arguments"]["validValues"].remove("作废")
    target = tmp_path / "new.odcs.yaml"
    target.write_text(yaml.safe_dump(new, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(app, ["contracts", "diff", str(SOURCE), str(target)])
    assert result.exit_code == 1 and "breaking" in result.output and "作废" in result.output
    assert "major version" in result.output
    same = CliRunner().invoke(app, ["contracts", "diff", str(SOURCE), str(SOURCE)])
    assert same.exit_code == 0 and "0 change(s), 0 breaking" in same.output
    missing = CliRunner().invoke(app, ["contracts", "diff", str(tmp_path / "nope.yaml"), str(SOURCE)])
    assert missing.exit_code == 2 and "nope.yaml" in missing.output and "Traceback" not in missing.output
