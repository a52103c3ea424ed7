"""dbt unit tests of the collaboration models (issue #5): every indicator checked on hand-made fixtures.

The fixtures and their hand-computed expected rows live beside the models
(dbt_project/models/collaboration/<scenario>/_<scenario>__unit_tests.yml); here they are run once through
``cityshare.transform.unit_test`` in a throw-away warehouse, and one wrong expectation is shown to fail.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from cityshare.errors import BuildFailed
from cityshare.settings import PROJECT_ROOT, get_settings
from cityshare.transform import run_dbt, unit_test

COLLAB_DIR = PROJECT_ROOT / "dbt_project" / "models" / "collaboration"
WRONG_TEST = "street_month_rates_score_and_grade"


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """(scratch settings, unit_test summary, manifest) of one unit-test run in a temporary work folder."""
    work = tmp_path_factory.mktemp("dbt_unit") / "work"
    with pytest.MonkeyPatch.context() as mp:
        # nothing may touch the default data folder (the dbt plugin reads the settings)
        mp.setenv("CITYSHARE_DATA_DIR", str(work.parent / "data"))
        summary = unit_test(get_settings(), work_dir=work)
        manifest = json.loads((Path(summary["target_dir"]) / "manifest.json").read_text(encoding="utf-8"))
        yield dataclasses.replace(get_settings(), data_dir=work), summary, manifest


def test_all_unit_tests_pass(ran):
    _, summary, manifest = ran
    assert summary["unit_tests"] == len(manifest["unit_tests"]) > 0
    assert summary["passed"] == summary["unit_tests"]


def test_every_collaboration_sql_model_has_a_unit_test(ran):
    _, _, manifest = ran
    models = {n["name"] for n in manifest["nodes"].values()
              if n["resource_type"] == "model" and n["language"] == "sql"
              and n["original_file_path"].startswith("models/collaboration/")}
    # the manifest agrees with the files on disk, so a model dbt failed to parse cannot slip through
    assert models == {p.stem for p in COLLAB_DIR.glob("*/*.sql")}
    tested = {u["model"] for u in manifest["unit_tests"].values()}
    assert sorted(models - tested) == []


def test_a_wrong_expectation_fails(ran, tmp_path):
    """The same fixtures with one expected grade changed (C → B) make dbt report the test as failed."""
    settings, _, _ = ran
    home = tmp_path / "home"
    for name in ("contracts", "dbt_project"):
        shutil.copytree(PROJECT_ROOT / name, home / name, ignore=shutil.ignore_patterns("target", "logs", "_generated"))
    yml = home / "dbt_project" / "models" / "collaboration" / "city_evaluation" / "_city_evaluation__unit_tests.yml"
    text = yml.read_text(encoding="utf-8")
    assert text.count("composite_score: 71.25, grade: C") == 1
    yml.write_text(text.replace("composite_score: 71.25, grade: C", "composite_score: 71.25, grade: B"), encoding="utf-8")
    # the parents' empty relations of the module's run are reused: only the changed test runs
    wrong = dataclasses.replace(settings, project_root=home)
    with pytest.raises(BuildFailed, match=WRONG_TEST) as failed:
        run_dbt(["test", "--select", WRONG_TEST], wrong)
    assert "differs from" in str(failed.value)


def test_a_log_file_that_cannot_be_written_does_not_flood_the_output(ran, capfd, monkeypatch):
    """A full disk fails every write of dbt's file log; Python's logging would print a traceback for each one
    (51,561 lines for a build). The run goes on and the output stays readable."""
    import errno
    import logging

    settings, _, manifest = ran

    def disk_full(self, record):
        raise OSError(errno.ENOSPC, "No space left on device", self.baseFilename)

    monkeypatch.setattr(logging.FileHandler, "emit", disk_full)
    passing = next(u["name"] for u in manifest["unit_tests"].values() if u["name"] != WRONG_TEST)
    result = run_dbt(["test", "--select", passing], settings)
    assert result.success
    assert "Logging error" not in capfd.readouterr().err
    assert logging.raiseExceptions  # the process's own logging reports handler errors again afterwards
