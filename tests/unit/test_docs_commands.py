"""Every command line of README.md's and docs/*.md's shell blocks (```console ``$ `` lines, ```bash/```sh lines) is
run here, verbatim, in a sandbox — or named in ELSEWHERE (another test runs it verbatim) or SKIPPED (with the reason
it cannot run in a test). A newly documented command that is in none of them fails
``test_every_documented_command_is_run_or_skipped_with_a_reason``.

Each run checks the exit code the docs imply (0 unless they say otherwise) and, where the docs show output, that the
essential part of it (``shows``: a piece of the documented output) appears in the real output. What a command
depends on but the docs leave to the reader — ``$TOKEN``, a load id, ``FILE``, ``/backups`` — is put in by the
step's ``replace`` (the sandbox's path or a value an earlier command printed).

Sandboxes: the share world of ``cityshare.share.sample_world`` (published tables, directory, no dbt; < 1 s) for
tokens, exports, receipts, audit, directory exports, federation identity, backup and check; the project's own
contracts for the contract commands. Slow (``make test-slow``): the recovery session on the core scenario's built
warehouse, the by-hand session of operations.md on the whole project, the Airflow CLI and the OpenMetadata files.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from docs_support import ROOT, DocCommand, Done, Shell, all_documented_commands, reader_environment, wait_for_port

from cityshare.ports import free_port


@dataclasses.dataclass(frozen=True)
class Step:
    doc: str
    command: str                      # the documented command, its trailing comment left out
    shows: tuple[str, ...] = ()       # pieces of the documented output that the real output must contain
    exit: int = 0
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)  # for this command only (a fault switch)
    replace: Mapping[str, str] = dataclasses.field(default_factory=dict)  # documented → sandbox; {name}: Shell.values
    before: Callable[[Shell], None] | None = None
    after: Callable[[Shell, Done], None] | None = None


def documented() -> dict[tuple[str, str], list[DocCommand]]:
    found: dict[tuple[str, str], list[DocCommand]] = {}
    for command in all_documented_commands():
        found.setdefault((command.doc, command.key), []).append(command)
    return found


def run_steps(shell: Shell, steps: list[Step]) -> None:
    """Each step's documented command, verbatim but for its replacements, in the shell session."""
    docs = documented()
    for step in steps:
        occurrences = docs.get((step.doc, step.command))
        assert occurrences, f"{step.doc} no longer documents `{step.command}`: update this test's steps"
        if step.before:
            step.before(shell)
        text = occurrences[0].text
        for old, new in step.replace.items():
            assert old in text, (old, text)
            text = text.replace(old, new.format(**shell.values))
        started = time.monotonic()
        done = shell.run(text, env=step.env)
        print(f"{time.monotonic() - started:6.1f} s  {step.doc}: {step.command}")  # pytest -s: where the time goes
        assert done.returncode == step.exit, done.describe()
        shown = "\n".join(c.shown for c in occurrences)
        for piece in step.shows:
            assert piece in shown, f"{step.doc} `{step.command}` does not show {piece!r}: update this test's step"
            assert piece in done.output, f"{step.doc} shows {piece!r}, the command printed:\n{done.describe()}"
        if step.after:
            step.after(shell, done)


@pytest.fixture
def shell_for() -> Iterator[Callable[[Path, dict[str, str]], Shell]]:
    shells: list[Shell] = []

    def make(cwd: Path, env: dict[str, str]) -> Shell:
        shells.append(Shell(cwd, env))
        return shells[-1]

    yield make
    for shell in shells:
        shell.close()


# ---------------------------------------------------------------------------------------------------------------
# The share world: tokens, exports over HTTP, receipts, the audit chain, directory exports, federation, backup/check


TOKEN_KEY = "docs-commands-" + "k" * 32


@pytest.fixture(scope="module")
def share_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sample share world whose folder holds ``home/`` (CITYSHARE_HOME) and ``data/`` (the data dir): the docs'
    ``data/…`` paths are relative to it, as to a checkout; ``tests/`` is the repository's (reference files)."""
    from cityshare.share.sample_world import build_world

    world = tmp_path_factory.mktemp("docs-share") / "world"
    settings = build_world(world, token_key=TOKEN_KEY)
    seeds = settings.project_root / "dbt_project" / "seeds"  # the GB/T 2260 areas DCAT-AP names (dct:spatial)
    seeds.mkdir(parents=True)
    shutil.copy(ROOT / "dbt_project" / "seeds" / "chongqing_areas.csv", seeds)
    (world / "tests").symlink_to(ROOT / "tests")
    return world


def share_env(world: Path) -> dict[str, str]:
    return reader_environment(CITYSHARE_HOME=str(world / "home"), CITYSHARE_DATA_DIR=str(world / "data"),
                              CITYSHARE_TOKEN_KEY=TOKEN_KEY)


def _remember_token(name: str) -> Callable[[Shell, Done], None]:
    def after(shell: Shell, done: Done) -> None:
        token = done.stdout.strip()
        assert re.fullmatch(r"cs_[A-Za-z0-9_-]{20,}", token), done.describe()  # the token alone on stdout
        shell.values[name] = token
        issued = re.search(r"issued (tk_[0-9a-f]+)", done.stderr)  # its id, on stderr
        assert issued, done.describe()
        shell.values[f"{name}_id"] = issued.group(1)
    return after


def _use_as_token(shell: Shell, done: Done) -> None:
    """The reader's ``$TOKEN``: the provider's (城管局) approver token just issued."""
    _remember_token("approver")(shell, done)
    shell.env["TOKEN"] = shell.values["approver"]


def _lists_the_issued_tokens(shell: Shell, done: Done) -> None:
    for user in ("wang", "li", "zhao"):
        assert re.search(rf"│ {user}\s+│", done.stdout), done.describe()


def _revoked(shell: Shell, done: Done) -> None:
    listed = shell.run(".venv/bin/cityshare token list --json")
    row = next(t for t in json.loads(listed.stdout) if t["id"] == shell.values["consumer_id"])
    assert row["revoked_at"], row


def _file(name: str, test: Callable[[Path], bool]) -> Callable[[Shell, Done], None]:
    def after(shell: Shell, done: Done) -> None:
        path = shell.cwd / name
        assert path.exists() and test(path), f"{name} after `{done.command}`"
    return after


def _dcat_export(shell: Shell) -> None:
    """The FILE of the pyshacl command: the directory's DCAT-AP export (JSON-LD)."""
    made = shell.run(".venv/bin/cityshare directory export --format dcat --out catalog.jsonld")
    assert made.returncode == 0, made.describe()


def _a_free_port(shell: Shell) -> None:
    shell.values["port"] = str(free_port())
    shell.values["portal"] = f"http://127.0.0.1:{shell.values['port']}"


def _portal_up(shell: Shell, done: Done) -> None:
    """The portal serves the directory as JSON (/api/directory) once it listens."""
    wait_for_port(int(shell.values["port"]), timeout=120)
    listed = httpx.get(f"{shell.values['portal']}/api/directory", timeout=30)
    assert listed.status_code == 200 and listed.json()["total"] > 0, listed.text[:500]


# `serve` binds 127.0.0.1:8000 until Ctrl-C: here a free port, in the background (the shell stops it at the end)
SERVED = {"serve": "serve --port {port} &"}


def _whole_export(shell: Shell) -> bytes:
    url = f"{shell.values['portal']}/api/tables/theme_city_cases__case/export"
    answer = httpx.get(url, params={"format": "csv", "header": "zh", "version": "1"}, timeout=60,
                       headers={"Authorization": f"Bearer {shell.env['TOKEN']}"})
    assert answer.status_code == 200, answer.text
    shell.values["delivery"] = answer.headers["X-CityShare-Delivery"]
    return answer.content


def _interrupted_download(shell: Shell) -> None:
    """The second curl resumes a download: cut the first one's file in half, as a dropped connection would."""
    cases = shell.cwd / "cases.csv"
    whole = cases.read_bytes()
    assert whole.startswith("\ufeff".encode()) and "案件编号".encode() in whole[:500], whole[:500]
    (shell.cwd / "cases.whole").write_bytes(whole)
    cases.write_bytes(whole[: len(whole) // 2])


def _resumed(shell: Shell, done: Done) -> None:
    assert (shell.cwd / "cases.csv").read_bytes() == (shell.cwd / "cases.whole").read_bytes()


def _export_and_receipt(shell: Shell) -> None:
    """export.csv and receipt.json as a consumer downloads them: the export, then its signed receipt."""
    (shell.cwd / "export.csv").write_bytes(_whole_export(shell))
    receipt = httpx.get(f"{shell.values['portal']}/api/receipts/{shell.values['delivery']}", timeout=30,
                        headers={"Authorization": f"Bearer {shell.env['TOKEN']}"})
    assert receipt.status_code == 200, receipt.text
    (shell.cwd / "receipt.json").write_bytes(receipt.content)


def _audit_has_records(shell: Shell, done: Done) -> None:
    assert re.search(r"audit chain ok: [1-9]\d* records", done.stdout), done.describe()


def _airflow_env_for(port: str) -> Callable[[Shell, Done], None]:
    def after(shell: Shell, done: Done) -> None:
        assert shell.env["AIRFLOW_HOME"].startswith(shell.env["CITYSHARE_DATA_DIR"]), shell.env["AIRFLOW_HOME"]
        assert any(port in value for name, value in shell.env.items() if name.startswith("AIRFLOW__")), shell.env
    return after


BACKUPS = {"/backups/": "{root}/backups/"}
TOKEN = ".venv/bin/cityshare token issue --department"
SHARE_STEPS = [
    Step("README.md", f"{TOKEN} jd_nanping --user wang --role consumer", after=_remember_token("readme")),
    Step("docs/share.md", f"{TOKEN} jd_nanping --user wang --role consumer --days 30", shows=("cs_",),
         after=_remember_token("consumer")),
    Step("docs/share.md", f"{TOKEN} cgj --user li --role approver", after=_use_as_token),
    Step("docs/share.md", f"{TOKEN} cyzx --user zhao --role governance", after=_remember_token("governance")),
    Step("docs/share.md", ".venv/bin/cityshare token list", after=_lists_the_issued_tokens),
    Step("docs/share.md", ".venv/bin/cityshare token revoke tk_…", replace={"tk_…": "{consumer_id}"}, after=_revoked),
    Step("docs/quality.md", ".venv/bin/cityshare serve", before=_a_free_port, replace=SERVED, after=_portal_up),
    Step("docs/share.md", 'curl -sH "Authorization: Bearer $TOKEN" -o cases.csv "http://127.0.0.1:8000/api/tables/'
         'theme_city_cases__case/export?format=csv&header=zh&version=1"',
         replace={"http://127.0.0.1:8000": "{portal}"}, after=_file("cases.csv", lambda p: p.stat().st_size > 1000)),
    Step("docs/share.md", 'curl -sH "Authorization: Bearer $TOKEN" -H "Range: bytes=$(stat -c %s cases.csv)-" '
         '"http://127.0.0.1:8000/api/tables/theme_city_cases__case/export?format=csv&header=zh&version=1" >> cases.csv',
         before=_interrupted_download, replace={"http://127.0.0.1:8000": "{portal}"}, after=_resumed),
    Step("docs/share.md", ".venv/bin/cityshare receipt verify export.csv receipt.json", before=_export_and_receipt,
         after=lambda shell, done: _contains(done, "ok")),
    Step("docs/share.md", ".venv/bin/cityshare audit verify", after=_audit_has_records),
    Step("docs/federation.md", ".venv/bin/cityshare federation identity",
         shows=("重庆市城市运行和治理中心 · 市级 · 重庆市（500000） · receipt key id",)),
    Step("docs/federation.md", ".venv/bin/cityshare federation status"),
    Step("docs/directory.md", ".venv/bin/cityshare directory export --format csv --out directory.csv",
         after=_file("directory.csv", lambda p: p.read_bytes().startswith("\ufeff".encode()) and
                     "城市管理案件" in p.read_text(encoding="utf-8-sig"))),
    Step("docs/directory.md", ".venv/bin/pyshacl -s tests/reference/dcat-ap-3.0.1/dcat-ap-SHACL.ttl -i rdfs "
         "-df json-ld -f human FILE", before=_dcat_export, replace={"FILE": "catalog.jsonld"},
         after=lambda shell, done: _contains(done, "Conforms: True")),
    Step("docs/quality.md", ".venv/bin/cityshare report quality --out quality.html",
         after=_file("quality.html", lambda p: "<html" in p.read_text(encoding="utf-8").lower())),
    Step("docs/operations.md", "cityshare backup /backups/cityshare-$(date +%F) --lake", replace=BACKUPS,
         after=lambda shell, done: _contains(done, '"lake": true')),
    Step("docs/operations.md", "cityshare check",
         after=lambda shell, done: _contains(done, "every published version has its snapshot")),
    Step("docs/airflow.md", 'eval "$(.venv/bin/cityshare airflow env --port 41873)"', after=_airflow_env_for("41873")),
]


def _contains(done: Done, text: str) -> None:
    assert text in done.output, done.describe()


def test_the_share_commands_work_on_a_published_world(share_world, shell_for):
    shell = shell_for(share_world, share_env(share_world))
    shell.values["root"] = str(share_world)
    run_steps(shell, SHARE_STEPS)


def _openmetadata_requests(shell: Shell, done: Done) -> None:
    requests = list((shell.cwd / "data" / "openmetadata" / "requests").rglob("*.json"))
    assert requests and all(json.loads(p.read_text(encoding="utf-8")) for p in requests), done.describe()


def _workflow(shell: Shell, done: Done) -> None:
    workflow = (shell.cwd / "data" / "openmetadata" / "workflow.yaml").read_text(encoding="utf-8")
    assert "${CITYSHARE_OPENMETADATA_TOKEN}" in workflow and "http://localhost:8585/api" in workflow, workflow


OPENMETADATA_STEPS = [
    Step("docs/directory.md", "cityshare directory publish --openmetadata http://localhost:8585/api --workflow-file "
         "data/openmetadata/workflow.yaml", after=_workflow),
    Step("docs/directory.md", "cityshare directory publish --dry-run data/openmetadata/requests",
         after=_openmetadata_requests),
]


@pytest.mark.slow  # openmetadata-ingestion takes ≈ 9 s to import, per command
def test_the_openmetadata_files_are_written_without_a_server(share_world, shell_for):
    run_steps(shell_for(share_world, share_env(share_world)), OPENMETADATA_STEPS)


# ---------------------------------------------------------------------------------------------------------------
# The project's contracts


def _two_versions(shell: Shell) -> None:
    """old.odcs.yaml and new.odcs.yaml: a contract and its next patch version with a reworded purpose."""
    text = (ROOT / "contracts" / "cgj" / "city_cases.odcs.yaml").read_text(encoding="utf-8")
    (shell.cwd / "old.odcs.yaml").write_text(text, encoding="utf-8")
    version = re.search(r"^version: (\d+)\.(\d+)\.(\d+)$", text, re.M)
    assert version
    major, minor, patch = map(int, version.groups())
    new = text.replace(version.group(0), f"version: {major}.{minor}.{patch + 1}", 1)
    new = re.sub(r"^(  purpose: )", r"\1（修订）", new, count=1, flags=re.M)
    (shell.cwd / "new.odcs.yaml").write_text(new, encoding="utf-8")


def _a_suite_per_contract(shell: Shell, done: Done) -> None:
    contracts = {f"{p.parent.name}__{p.name.removesuffix('.odcs.yaml')}" for p in (ROOT / "contracts").glob("*/*.odcs.yaml")}
    suites = {p.name.removesuffix(".suite.json") for p in (shell.cwd / "suites").glob("*.suite.json")}
    assert suites == contracts, suites ^ contracts


CONTRACT_STEPS = [
    Step("docs/contracts.md", ".venv/bin/cityshare contracts lint",
         after=lambda shell, done: _contains(done, "ok ")),
    Step("docs/contracts.md", ".venv/bin/cityshare contracts diff old.odcs.yaml new.odcs.yaml", before=_two_versions),
    Step("docs/contracts.md", ".venv/bin/cityshare contracts compile --out suites/", after=_a_suite_per_contract),
]


def test_the_contract_commands_work_on_the_projects_contracts(tmp_path, shell_for):
    env = reader_environment(CITYSHARE_HOME=str(ROOT), CITYSHARE_DATA_DIR=str(tmp_path / "data"))
    run_steps(shell_for(tmp_path, env), CONTRACT_STEPS)


# ---------------------------------------------------------------------------------------------------------------
# Recovery (docs/recovery.md) on the core scenario's built warehouse: retract, a full disk, recover, backup/restore


@pytest.fixture
def built_core(tmp_path: Path) -> Path:
    """A private copy of the core scenario (城管局 cases + 市场监管局 registry, 2 days) ingested, built and published."""
    from test_directory_support import built_home, clone_built

    return clone_built(built_home(tmp_path.parent / "docs-built"), tmp_path / "home").project_root


def _warehouse(shell: Shell, sql: str) -> list[tuple]:
    import duckdb

    with duckdb.connect(str(shell.cwd / "data" / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def _a_load_id(shell: Shell) -> None:
    """The batch the docs retract: the 城管局 delivery of the last day."""
    [(load_id,)] = _warehouse(shell, "SELECT max(load_id) FROM meta.batches WHERE dataset = 'cgj/city_cases'")
    shell.values["load_id"] = load_id


def _retraction_listed(shell: Shell, done: Done) -> None:
    assert "retract" in done.stdout and shell.values["load_id"] in done.stdout, done.describe()


def _lose_the_warehouse(shell: Shell) -> None:
    shell.values["published"] = repr(_warehouse(shell, "SELECT table_name, version, rows FROM meta.publications "
                                                       "ORDER BY ALL"))
    for path in (shell.cwd / "data").glob("warehouse.duckdb*"):
        path.unlink()


def _versions_back(shell: Shell, done: Done) -> None:
    assert repr(_warehouse(shell, "SELECT table_name, version, rows FROM meta.publications ORDER BY ALL")) == \
        shell.values["published"], done.describe()


MOVED_DATA_DIR = {"/srv/cityshare/data": "{root}/srv/cityshare/data"}
RESTORED = {**MOVED_DATA_DIR, **BACKUPS}
RECOVERY_STEPS = [
    Step("docs/recovery.md", 'cityshare batches retract 20300101-3f9a1c2b7d4e --reason "未来日期的错误交付"',
         before=_a_load_id, replace={"20300101-3f9a1c2b7d4e": "{load_id}"}),
    Step("docs/recovery.md", "cityshare build", env={"CITYSHARE_FAIL_AT": "publish.before_commit=ENOSPC"}, exit=3,
         shows=("error: disk full 磁盘已满 (", "): free space on the data volume (df -h ",
                ") and rerun the same command; nothing half-written was published")),
    Step("docs/recovery.md", "cityshare build"),
    Step("docs/recovery.md", "cityshare batches actions", after=_retraction_listed),
    Step("docs/recovery.md", "cityshare recover", before=_lose_the_warehouse, after=_versions_back),
    Step("docs/recovery.md", "cityshare backup /backups/cityshare-2026-12-05 --lake", replace=BACKUPS),
    Step("docs/recovery.md", "CITYSHARE_DATA_DIR=/srv/cityshare/data cityshare restore /backups/cityshare-2026-12-05",
         replace=RESTORED, after=_file("srv/cityshare/data/warehouse.duckdb", Path.is_file)),
    Step("docs/recovery.md", "CITYSHARE_DATA_DIR=/srv/cityshare/data cityshare build", replace=MOVED_DATA_DIR),
]


@pytest.mark.slow  # dbt builds the core scenario four times (≈ 1 min)
def test_the_recovery_commands_recover_a_built_warehouse(built_core, shell_for):
    env = reader_environment(CITYSHARE_HOME=str(built_core), CITYSHARE_DATA_DIR=str(built_core / "data"),
                             CITYSHARE_TOKEN_KEY=os.environ["CITYSHARE_TOKEN_KEY"])  # the key it was built with
    shell = shell_for(built_core, env)
    shell.values["root"] = str(built_core)
    run_steps(shell, RECOVERY_STEPS)


# ---------------------------------------------------------------------------------------------------------------
# docs/operations.md "Running the steps by hand": the whole project, a fresh data dir, the 市场监管局 API served


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A checkout's project files (contracts, catalog, dbt project, DAGs) without data."""
    for part in ("contracts", "catalog", "dbt_project", "dags"):
        shutil.copytree(ROOT / part, tmp_path / part,
                        ignore=shutil.ignore_patterns("target", "logs", "__pycache__", "_generated", "dbt_packages"))
    return tmp_path


def _api_up(shell: Shell, done: Done) -> None:
    wait_for_port(int(shell.env["CITYSHARE_SIM_API_PORT"]))


BY_HAND = ".venv/bin/cityshare"
BY_HAND_STEPS = [
    Step("docs/operations.md", f"{BY_HAND} keys init"),
    Step("docs/operations.md", "export CITYSHARE_SCJGJ_API_TOKEN=$(.venv/bin/python -c 'import secrets; "
         "print(secrets.token_urlsafe(16))')"),
    Step("docs/operations.md", f"{BY_HAND} simulate --days 2 --start 2026-11-25 --serve-api &", after=_api_up),
    Step("docs/operations.md", f"{BY_HAND} ingest cgj/city_cases --date 2026-11-25",
         shows=('"dataset": "cgj/city_cases",\n  "load_date": "2026-11-25",', '"rows": 181,',
                '"status": "accepted",\n  "accepted": 177,\n  "quarantined": 4,',
                '"reason": "4 of 181 row(s) quarantined: 主键 case_id 不得重复 [case_id_unique: 1 of 181 rows; '
                '源文件行号 source rows 109]; ')),
    Step("docs/operations.md", f"{BY_HAND} ingest scjgj/business_registry --date 2026-11-25",
         after=lambda shell, done: _contains(done, '"status": "accepted"')),
    Step("docs/operations.md", f"{BY_HAND} build", exit=1,
         shows=("加工 build: first build of this warehouse; sources 源: 全部 all; 57 models, 165 nodes; 16 raw views "
                "原始视图 (re)created", "error: not published 未发布 (previous version kept): "
                "shared.collab_joint_utility__provider_day: collab_joint_utility__provider_day: 发布表不得为空 "
                "[table_not_empty: 1/1]; shared.collab_smart_parking__street_day: ")),
    Step("docs/operations.md", f"{BY_HAND} ingest cgj/city_cases --date 2026-11-26 && {BY_HAND} build", exit=1,
         shows=("加工 build: new batches in 1 of 18 sources; sources 源: cgj__city_cases; 8 models, 29 nodes; 0 raw "
                "views 原始视图 (re)created", "error: not published 未发布 (previous version kept): "
                "shared.collab_joint_utility__provider_day: ")),
    Step("docs/operations.md", f"{BY_HAND} directory build"),
    Step("docs/operations.md", f"{BY_HAND} serve", before=_a_free_port, replace=SERVED, after=_portal_up),
    Step("docs/operations.md", f"{BY_HAND} ingest cgj/city_cases --date 2026-12-01", exit=2,
         shows=("city_cases_2026-12-01.csv: no delivery from cgj for 2026-12-01 (file missing)",)),
]


@pytest.mark.slow  # simulate, two loads and two dbt builds of the whole project (≈ 70 s)
def test_the_by_hand_session_of_the_operations_guide(project_copy, shell_for):
    from cityshare.demo import simulator_endpoints
    from cityshare.settings import get_settings

    port = free_port()  # the docs' 8765 may be taken on a shared machine: the setting that moves it
    endpoints = simulator_endpoints(get_settings(), f"http://127.0.0.1:{port}")
    env = reader_environment(CITYSHARE_HOME=str(project_copy), CITYSHARE_DATA_DIR=str(project_copy / "data"),
                             CITYSHARE_SIM_API_PORT=str(port), **endpoints)
    run_steps(shell_for(project_copy, env), BY_HAND_STEPS)


# ---------------------------------------------------------------------------------------------------------------
# docs/airflow.md: the plain airflow CLI in a shell


def _lists_the_dags(shell: Shell, done: Done) -> None:
    for dag in ("ingest__cgj__city_cases", "build_and_publish", "directory"):
        assert re.search(rf"^{dag}\s", done.stdout, re.M), done.describe()


AIRFLOW_STEPS = [
    Step("docs/airflow.md", 'eval "$(.venv/bin/cityshare airflow env)"'),
    Step("docs/airflow.md", "airflow db migrate"),
    Step("docs/airflow.md", "airflow dags list --local", after=_lists_the_dags),
]


@pytest.mark.slow  # Airflow's CLI: a migration and a parse of every DAG (≈ 10 s)
def test_the_airflow_cli_lists_the_dags_in_a_shell(tmp_path, shell_for):
    env = reader_environment(CITYSHARE_HOME=str(ROOT), CITYSHARE_DATA_DIR=str(tmp_path / "data"),
                             CITYSHARE_TOKEN_KEY=TOKEN_KEY)
    run_steps(shell_for(tmp_path, env), AIRFLOW_STEPS)


# ---------------------------------------------------------------------------------------------------------------
# What is not run here, and why


ELSEWHERE = {  # run verbatim, output checked, by another test that reads the same doc
    ("README.md", "make demo"): "tests/e2e/test_readme_quickstart.py",
    **{("docs/onboarding.md", command): "tests/unit/test_onboarding_guide.py" for command in (
        ".venv/bin/cityshare keys init",
        "mkdir -p data/inbox/yjglj/shelter_volunteers",
        "cp tests/e2e/onboarding/inbox/shelter_volunteers_day1.csv "
        "data/inbox/yjglj/shelter_volunteers/shelter_volunteers_2026-11-23.csv",
        ".venv/bin/cityshare contracts lint",
        ".venv/bin/cityshare ingest yjglj/shelter_volunteers --date 2026-11-23",
        ".venv/bin/cityshare build",
        ".venv/bin/cityshare directory build",
        ".venv/bin/cityshare token issue --department jd_nanping --user nanping_clerk --role consumer")},
}

SKIPPED = {
    ("docs/operations.md", "make demo"): "the README's `make demo` (its shown output is an earlier run's: dates and "
                                         "counts vary), which tests/e2e/test_readme_quickstart.py runs on a fresh clone",
    ("README.md", "make test"): "the whole CI run itself (`.ci/run` runs it): it runs this test",
    ("docs/spark.md", "make test-spark"): "installs Java 17 with apt-get (sudo) and the spark extra; the Spark tier "
                                          "of CI (`make test-spark`) is that command",
    ("docs/spark.md", "CITYSHARE_ENGINE=spark .venv/bin/cityshare build"):
        "needs the spark extra and Java 17; the Spark tier (`make test-spark`) runs the function it calls, "
        "cityshare.engine.build with engine spark, then audit_and_publish, on a standalone cluster",
    ("docs/airflow.md", "make airflow"): "starts Airflow's scheduler, dag-processor, triggerer and UI until Ctrl-C; "
                                         "tests/e2e/test_airflow_scheduler.py starts the same components",
    ("docs/airflow.md", "airflow backfill create --dag-id ingest__cgj__city_cases \\\n    --from-date "
                        "2026-11-20T00:00:00+00:00 --to-date 2026-11-22T00:00:00+00:00 --reprocess-behavior completed"):
        "needs a running `airflow up` (its scheduler runs the backfill); tests/e2e/test_airflow_scheduler.py "
        "backfills three days twice through it (slow tier)",
    ("docs/directory.md", 'cityshare directory publish --openmetadata http://localhost:8585/api --token '
                          '"$CITYSHARE_OPENMETADATA_TOKEN"'):
        "needs a live OpenMetadata 2.0.7 server; tests/unit/test_openmetadata_workflow.py runs the same workflow "
        "against a stand-in server",
    ("docs/directory.md", "CITYSHARE_OPENMETADATA_TOKEN=... .venv/bin/metadata ingest -c "
                          "data/openmetadata/workflow.yaml"):
        "needs a live OpenMetadata 2.0.7 server (the workflow file itself is written and checked here)",
    **{("docs/federation.md", command): "needs a running higher instance serving its code lists; "
       "tests/unit/test_federation_reference.py pulls from a served instance, shows the lists and builds with them"
       for command in (".venv/bin/cityshare federation pull-reference chongqing",
                       ".venv/bin/cityshare federation code-lists", ".venv/bin/cityshare build")},
    ("docs/federation.md", "CITYSHARE_PEER_CHONGQING_TOKEN=… .venv/bin/cityshare ingest cyzx/chongqing_street_indicators "
                           "--date 2026-12-01"):
        "needs a running city instance and a token it issued; tests/unit/test_federation_demo.py lands it",
    ("docs/federation.md", ".venv/bin/cityshare demo --federation"):
        "serves four instances until Ctrl-C; tests/unit/test_federation_demo.py runs it with --no-serve",
    ("docs/federation.md", ".venv/bin/cityshare federation harvest nanan"):
        "needs a running lower instance (南岸区) at CITYSHARE_PEER_NANAN_URL; tests/e2e/test_federation_loopback.py "
        "serves one and harvests it",
    ("docs/federation.md", "CITYSHARE_PEER_NANAN_TOKEN=… .venv/bin/cityshare ingest cyzx/nanan_city_cases "
                           "--date 2026-11-27"):
        "needs a running providing instance and a token it issued; tests/e2e/test_federation_loopback.py lands it",
}

ALL_STEPS = [*SHARE_STEPS, *OPENMETADATA_STEPS, *CONTRACT_STEPS, *RECOVERY_STEPS, *BY_HAND_STEPS, *AIRFLOW_STEPS]


def test_every_documented_command_is_run_or_skipped_with_a_reason():
    docs = documented()
    run = {(s.doc, s.command) for s in ALL_STEPS}
    unaccounted = [f"{c.doc}:{c.line}: {c.key}" for key, cs in docs.items() for c in cs
                   if key not in run and key not in ELSEWHERE and key not in SKIPPED]
    assert not unaccounted, ("documented commands neither run by tests/unit/test_docs_commands.py nor listed in its "
                             "ELSEWHERE or SKIPPED (with the reason):\n" + "\n".join(unaccounted))
    stale = [key for key in [*run, *ELSEWHERE, *SKIPPED] if key not in docs]
    assert not stale, f"no longer documented: {stale}"
    assert not (run & SKIPPED.keys()) and not (run & ELSEWHERE.keys()) and not (SKIPPED.keys() & ELSEWHERE.keys())
    unchecked = [key for key, cs in docs.items() if key in run and any(c.shown.strip() for c in cs)
                 and not any(s.shows for s in ALL_STEPS if (s.doc, s.command) == key)]
    assert not unchecked, f"the docs show output for these, the steps check none of it: {unchecked}"
    said = {(key, int(code)) for key, cs in docs.items() if key in run for c in cs
            for code in re.findall(r"# exit (\d+)", c.shown)}
    assert said <= {((s.doc, s.command), s.exit) for s in ALL_STEPS}, "a documented `# exit N` that no step expects"


def test_the_tests_that_run_documented_commands_elsewhere_read_those_docs():
    for (doc, _), test in ELSEWHERE.items():
        assert (ROOT / test).is_file(), test
        assert Path(doc).name in (ROOT / test).read_text(encoding="utf-8"), f"{test} does not read {doc}"
