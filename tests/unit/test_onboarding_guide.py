"""docs/onboarding.md's commands, run verbatim on a copy of the project with the guide's two contracts.

The guide's contracts are the files under tests/e2e/onboarding/ it names; its shell session is the
``console`` block of the "Try it" section. A changed command or a changed outcome fails here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "onboarding.md"


def _commands() -> list[str]:
    section = GUIDE.read_text(encoding="utf-8").split("## Try it", 1)[1]
    block = re.search(r"```console\n(.*?)```", section, re.S)
    assert block, "docs/onboarding.md: the Try it section has no console block"
    return [line[2:] for line in block.group(1).splitlines() if line.startswith("$ ")]


def test_the_guides_contracts_are_the_tested_fixtures():
    text = GUIDE.read_text(encoding="utf-8")
    for path in re.findall(r"`(tests/e2e/onboarding/[^`]+)`", text):
        assert (ROOT / path).exists(), path


def test_the_guides_commands_onboard_a_new_department(tmp_path):
    home = tmp_path / "clone"
    for part in ("contracts", "catalog", "dbt_project", "dags", "tests/e2e/onboarding"):
        shutil.copytree(ROOT / part, home / part, ignore=shutil.ignore_patterns("target", "logs", "__pycache__", "_generated"))
    shutil.copytree(home / "tests/e2e/onboarding/contracts", home / "contracts", dirs_exist_ok=True)
    (home / ".venv").symlink_to(ROOT / ".venv")
    env = {**os.environ, "CITYSHARE_HOME": str(home), "CITYSHARE_DATA_DIR": str(home / "data"), "COLUMNS": "200"}
    outputs = []
    for command in _commands():
        done = subprocess.run(["bash", "-c", command], cwd=home, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
        outputs.append((command, done.stdout + done.stderr))
    said = dict(outputs)
    ingest = next(out for cmd, out in said.items() if " ingest " in cmd)
    assert '"accepted": 16' in ingest and '"quarantined": 1' in ingest and "id_number_check_digit" in ingest
    build = next(out for cmd, out in said.items() if cmd.endswith("cityshare build"))
    assert "pub_yjglj__shelter_volunteers" in build
    directory = next(out for cmd, out in said.items() if "directory build" in cmd)
    assert "应急志愿者" in directory
    token = next(out for cmd, out in said.items() if "token issue" in cmd)
    assert "cs_" in token
