"""A second, independent check: datacontract-cli lints every contract in contracts/.

datacontract-cli runs as an isolated, pinned tool (tests/datacontract_tool.py: its duckdb pin conflicts with
ours). Warnings are allowed: datacontract-cli cannot execute our library arguments (referenceSeed,
checkDigit, castTo, minimum/maximum, referenceDataset), which CityShare's own compiler runs; failures
and errors are not.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.datacontract_tool import TOOL, requires_uv

ROOT = Path(__file__).resolve().parents[2]
LINT_ALL = """
import glob, json
from datacontract.data_contract import DataContract
out = {}
for f in sorted(glob.glob("contracts/*/*.odcs.yaml")):
    run = DataContract(data_contract_file=f).lint()
    out[f] = {"result": str(run.result.value if hasattr(run.result, "value") else run.result),
              "problems": [f"{c.result}: {c.name}: {c.reason}" for c in run.checks
                           if str(getattr(c.result, "value", c.result)) not in ("passed", "warning")]}
print(json.dumps(out, ensure_ascii=False))
"""

pytestmark = requires_uv


def test_datacontract_lint_accepts_every_contract():
    done = subprocess.run([*TOOL, "python", "-c", LINT_ALL], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(results) == {p.relative_to(ROOT).as_posix() for p in ROOT.glob("contracts/*/*.odcs.yaml")}
    bad = {f: r for f, r in results.items() if r["result"] not in ("passed", "warning") or r["problems"]}
    assert not bad, bad


def test_datacontract_lint_cli_on_a_source_contract():
    done = subprocess.run([*TOOL, "datacontract", "lint", "contracts/cgj/city_cases.odcs.yaml"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "passed" in done.stdout and "failed" not in done.stdout
