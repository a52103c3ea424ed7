"""One broken published table never holds back the others: it keeps its previous version, says why, and
the rest publish (a city adds datasets every week; one mistake must not stop the whole directory)."""

from __future__ import annotations

import pytest
from test_directory_support import built_home, clone_built

from cityshare.directory.builder import build_directory
from cityshare.errors import AuditFailed
from cityshare.lint import lint_file
from cityshare.publish import audit, audit_and_publish
from cityshare.warehouse import connect

BROKEN = """\
apiVersion: v3.1.0
kind: DataContract
id: urn:cityshare:contract:shared:missing_model
name: 不存在的模型
version: 1.0.0
status: active
domain: shared
description: {purpose: 指向一个不存在的模型。}
team: {name: cgj, description: 重庆市城市管理局}
schema:
  - name: missing_model
    physicalName: collab_nowhere__street_day
    physicalType: table
    properties:
      - {name: street_code, businessName: 街道代码, logicalType: string, physicalType: VARCHAR}
customProperties:
  - {property: sharingType, value: 无条件共享}
  - {property: sharingMethod, value: 共享平台/接口}
  - {property: updateCycle, value: 每日}
  - {property: classification, value: 3/01/001}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_home(tmp_path_factory.getbasetemp())


@pytest.fixture
def home(built, tmp_path):
    return clone_built(built, tmp_path / "home")


def _versions(settings):
    with connect(settings, read_only=True) as con:
        return dict(con.execute("SELECT table_name, max(version) FROM meta.publications GROUP BY 1").fetchall())


def _status(settings):
    with connect(settings, read_only=True) as con:
        return {r[0]: (r[1], r[2]) for r in con.execute("SELECT table_name, status, reason FROM meta.publish_status").fetchall()}


def test_a_contract_naming_a_missing_model_is_a_lint_error_naming_it(home):
    path = home.contracts_dir / "shared" / "missing_model.odcs.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    errors = lint_file(path, home)
    assert [(e.field_path, "collab_nowhere__street_day" in e.message) for e in errors] == [("schema[0].physicalName", True)]
    assert str(path) in str(errors[0])


def test_a_missing_model_blocks_only_its_own_table(home):
    before = _versions(home)
    (home.contracts_dir / "shared" / "missing_model.odcs.yaml").write_text(BROKEN, encoding="utf-8")
    outcome = audit_and_publish(home)
    assert list(outcome["blocked"]) == ["shared.collab_nowhere__street_day"]
    assert "not built" in outcome["blocked"]["shared.collab_nowhere__street_day"][0]
    assert {r["table"].removeprefix("shared.") for r in outcome["published"]} == set(before)
    assert _status(home)["shared.collab_nowhere__street_day"][0] == "blocked"
    with pytest.raises(AuditFailed, match="collab_nowhere__street_day: not built"):
        audit(home)  # the all-or-nothing form still refuses


def test_a_failed_audit_keeps_the_previous_version_and_the_directory_says_why(home):
    before = _versions(home)
    path = home.contracts_dir / "shared" / "legal_entity.odcs.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("metric: rowCount, mustBeGreaterThan: 0", "metric: rowCount, mustBeGreaterThan: 100000000"),
                    encoding="utf-8")
    with connect(home) as con:  # the others change, so they get a new version
        con.execute("UPDATE collab.collab_storefront_order__street_day SET registered_shops = registered_shops + 1")
    steps: list[tuple[int, int, str]] = []  # what the CLI's bar shows
    outcome = audit_and_publish(home, on_step=lambda done, total, name: steps.append((done, total, name)))
    assert list(outcome["blocked"]) == ["shared.base_legal_entity"]
    audited = [name for _, _, name in steps if name.startswith("审核 audit ")]
    published = [name for _, _, name in steps if name.startswith("发布 publish ")]
    assert "审核 audit base_legal_entity" in audited and len(published) == len(outcome["published"]) == len(audited) - 1
    assert [done for done, _, _ in steps] == list(range(1, len(steps) + 1)) and steps[-1][1] == len(steps)
    after = _versions(home)
    assert after["base_legal_entity"] == before["base_legal_entity"]
    assert after["collab_storefront_order__street_day"] == before["collab_storefront_order__street_day"] + 1
    entries = {e["contract_key"]: e for e in build_directory(home)}
    status = entries["shared/legal_entity"]["发布状态"]
    assert status["状态"] == "未发布（审核未通过，保留上一版本）" and "table_not_empty" in status["原因"]
    assert entries["shared/storefront_order_street_day"]["发布状态"]["状态"] == "已发布"


def test_a_published_snapshot_hashes_as_its_publication_record(built):
    """The content hash of each served snapshot file (under ``version=N/``) is the one ``meta.publications`` kept,
    so a warehouse rebuilt from the snapshots (recovery) recognises every table as unchanged."""
    from cityshare import snapshots
    from cityshare.contracts.model import load_contracts
    from cityshare.publish import content_digest

    contracts = {c.model_name: c for c in load_contracts(built, kind="shared")}
    with connect(built, read_only=True) as con:
        kept = {t: (v, h) for t, v, h in con.execute(
            "SELECT table_name, version, content_hash FROM meta.publications QUALIFY row_number() OVER "
            "(PARTITION BY table_name ORDER BY version DESC) = 1").fetchall()}
        assert kept
        for table, (version, digest) in kept.items():
            served, path = snapshots.current(built, table)
            assert served == version and "version=" in str(path)
            assert content_digest(con, path, contracts[table])[1] == digest, table


def test_row_rules_checked_together_in_the_audit_still_block_by_name_and_count(home):
    """The audit counts every row rule together in one GX expectation (issue #24); a rule that fails there blocks
    its table with the rule's name and its own count, and the other rules of the table are recorded as passed."""
    from cityshare.contracts.model import load_contract
    from cityshare.contracts.rules import compile_rules

    with connect(home) as con:
        rows = con.execute("SELECT count(*) FROM collab.collab_storefront_order__street_day").fetchone()[0]
        con.execute("UPDATE collab.collab_storefront_order__street_day SET registered_shops = -1 WHERE rowid = 0")
        con.execute("UPDATE collab.collab_storefront_order__street_day SET street_name = NULL WHERE rowid IN (1, 2)")
    contract = load_contract(home.contracts_dir / "shared" / "storefront_order_street_day.odcs.yaml")
    rules = {(r.kind, r.column): r.name for r in compile_rules(contract, order_column=None)}
    low, missing = rules[("range", "registered_shops")], rules[("not_null", "street_name")]
    outcome = audit_and_publish(home)
    reasons = outcome["blocked"]["shared.collab_storefront_order__street_day"]
    assert sorted(r.split(" [")[1] for r in reasons) == sorted([f"{low}: 1/{rows}]", f"{missing}: 2/{rows}]"])
    with connect(home, read_only=True) as con:
        failed = dict(con.execute("SELECT rule, failed FROM meta.quality_results WHERE stage = 'audit' AND "
                                  "dataset = 'shared/storefront_order_street_day' AND NOT success").fetchall())
        passed = con.execute("SELECT count(*) FROM meta.quality_results WHERE stage = 'audit' AND "
                             "dataset = 'shared/storefront_order_street_day' AND success").fetchone()[0]
    assert failed == {low: 1, missing: 2} and passed > 5
