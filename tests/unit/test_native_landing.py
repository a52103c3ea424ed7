"""The native fast path (DuckDB reads a CSV/JSONL delivery straight into the raw batch) lands exactly what
the tolerant connector path lands — same rows, ``_source_row``, ``_row_hash`` and load id — on every
CSV/JSONL file of the bad-input corpus and on the simulator's deliveries; a file the native reader
refuses lands through the tolerant path, and the load result says so."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from cityshare.contracts.model import expand, get_contract, load_contracts
from cityshare.errors import CityShareError
from cityshare.ingest import ingest
from cityshare.lake import land, land_delivery
from cityshare.settings import get_settings
from cityshare.sources import extract, server_kind

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"
MANIFEST = yaml.safe_load((CORPUS / "cases.yml").read_text(encoding="utf-8"))
DAY = dt.date.fromisoformat(MANIFEST["date"])
TARGET_OF = {c["file"]: c["target"] for c in MANIFEST["cases"] if c.get("file")}
FILES = sorted(p.name for p in (CORPUS / "files").iterdir() if p.suffix in (".csv", ".jsonl"))
# files the native reader must take itself (not fall back on): the corpus's well-formed deliveries
NATIVE = {"good.csv", "utf8_bom.csv", "crlf_line_endings.csv", "quoted_newline_in_cell.csv", "one_megabyte_cell.csv",
          "control_chars_nul_in_cell.csv", "sql_injection_in_data.csv", "jsonl_good.jsonl",
          "jsonl_last_record_without_newline.jsonl"}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A private copy of the project's contracts, catalog and seeds, with its own data folder."""
    home = tmp_path / "home"
    for part in ("contracts", "catalog", "dbt_project/seeds"):
        shutil.copytree(ROOT / part, home / part)
    monkeypatch.setenv("CITYSHARE_HOME", str(home))
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "data"))
    return get_settings()


def _landed(path: Path) -> list[tuple]:
    """A batch's rows in file order, everything but the wall-clock ``_loaded_at``."""
    return duckdb.connect().execute(
        "SELECT * EXCLUDE (_loaded_at) FROM read_parquet(?, hive_partitioning = false)", [str(path)]).fetchall()


def _outcome(land_fn, contract, day, settings) -> tuple:
    """What a reader sees after landing: the load id, row count and rows — or the error and its message."""
    try:
        batch = land_fn(contract, day, extract(contract, day, settings), settings)
    except CityShareError as exc:
        return ("error", type(exc).__name__, str(exc)), None
    rows = _landed(batch.path)
    shutil.rmtree(batch.path.parent)  # the other path must land it afresh, not reuse it
    return ("landed", batch.load_id, batch.rows, rows), batch


def _compare(contract, day, settings) -> tuple:
    tolerant, _ = _outcome(land, contract, day, settings)
    either, batch = _outcome(land_delivery, contract, day, settings)
    assert either == tolerant
    return tolerant, batch


def _target(name: str) -> str:
    return TARGET_OF.get(name) or ("zjw/bridge_sensor_readings" if name.endswith(".jsonl") else "cgj/city_cases")


@pytest.mark.parametrize("name", FILES)
def test_corpus_file_lands_the_same_rows_and_hashes_by_either_reader(name, project):
    contract = get_contract(_target(name), project)
    dest = Path(expand(contract.server["path"], project).replace("{date}*", "{date}").replace("{date}", str(DAY)))
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(CORPUS / "files" / name, dest)
    outcome, batch = _compare(contract, DAY, project)
    if name in NATIVE:
        assert outcome[0] == "landed" and batch.reader == "native", batch
        assert len({row[-2] for row in outcome[3]}) == len(outcome[3])  # a distinct md5 per row, not a constant


def test_simulated_deliveries_land_natively_with_the_same_rows_and_hashes(project):
    from cityshare.simulate import simulate

    simulate(project, days=1, start=DAY, scale=0.3, seed=5)
    readers = {}
    for contract in load_contracts(project, kind="source"):
        if server_kind(contract) not in (("local", "csv"), ("local", "jsonl")):
            continue
        outcome, batch = _compare(contract, DAY, project)
        assert outcome[0] == "landed" and outcome[2] > 0, (contract.key, outcome[:3])
        # a GB18030 delivery (encoding auto) is read by the tolerant path, saying so; UTF-8 ones natively
        assert batch.reader == "native" or batch.reader_reason.startswith("encoding gb18030"), (contract.key, batch)
        readers[contract.key] = batch.reader
    assert len(readers) >= 8 and list(readers.values()).count("native") >= 4, readers


def _reading(sensor: str, value: object) -> dict:
    return {"sensor": {"id": sensor, "type": "应变", "unit": "με"}, "bridge": {"id": "QL500108001", "name": "东水门长江大桥"},
            "ts": "2026-11-25 01:00:00", "value": value, "alarm": False}


@pytest.mark.parametrize(("record", "landed"), [
    (json.dumps(_reading("S2", 0.00001)), "1e-05"),  # Python's repr writes it in exponent form
    (json.dumps(_reading("S2", {"raw": 2})), '{"raw": 2}'),  # a nested value lands as JSON text
    # a key given twice: Python's json keeps the last value, which is what lands
    (json.dumps(_reading("S2", 2.0)).replace('"alarm": false', '"alarm": false, "value": 7'), "7"),
], ids=["small_double", "nested_value", "repeated_key"])
def test_a_jsonl_file_the_native_reader_refuses_lands_through_the_tolerant_reader_and_says_why(record, landed, project):
    folder = project.inbox_dir / "zjw" / "bridge_sensor_readings"
    folder.mkdir(parents=True)
    lines = [json.dumps(_reading("S1", 1.5)), record]
    (folder / f"bridge_sensor_readings_{DAY}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    contract = get_contract("zjw/bridge_sensor_readings", project)
    outcome, batch = _compare(contract, DAY, project)
    assert batch.reader == "tolerant" and batch.reader_reason.startswith("native reader rejected the file")
    assert [row[6] for row in outcome[3]] == ["1.5", landed]


def test_a_csv_file_the_native_reader_refuses_lands_through_the_tolerant_reader(project):
    contract = get_contract("cgj/city_cases", project)
    lines = (CORPUS / "files" / "good.csv").read_text(encoding="utf-8").splitlines()
    fields = lines[3].split(",")
    fields[6] = '"占道"经营'  # text after a closing quote: Arrow keeps it, DuckDB's strict reader refuses the row
    lines[3] = ",".join(fields)
    path = project.inbox_dir / "cgj" / "city_cases" / f"city_cases_{DAY}.csv"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outcome, batch = _compare(contract, DAY, project)
    assert batch.reader == "tolerant" and "native reader rejected the file" in batch.reader_reason
    assert outcome[3][2][6] == "占道经营"
    assert len(outcome[3]) == 30


def test_ingest_says_which_reader_ran(project):
    path = project.inbox_dir / "cgj" / "city_cases" / f"city_cases_{DAY}.csv"
    path.parent.mkdir(parents=True)
    shutil.copy(CORPUS / "files" / "good.csv", path)
    result = ingest("cgj/city_cases", DAY)
    assert (result["reader"], result["reader_reason"], result["status"], result["rows"]) == ("native", "", "accepted", 30)
    again = ingest("cgj/city_cases", DAY)  # the same content: recognised before reading, counted from the source
    assert again["reused"] and again["load_id"] == result["load_id"] and again["rows"] == 30


_TEMPLATE = {"sensor.id": '{"sensor": {"id": %s, "type": "应变", "unit": "με"}, "bridge": {"id": "QL500108001", '
                          '"name": "东水门长江大桥"}, "ts": "2026-11-25 01:00:00", "value": 1.5, "alarm": false}',
             "value": '{"sensor": {"id": "S2", "type": "应变", "unit": "με"}, "bridge": {"id": "QL500108001", '
                      '"name": "东水门长江大桥"}, "ts": "2026-11-25 01:00:00", "value": %s, "alarm": false}',
             "alarm": '{"sensor": {"id": "S2", "type": "应变", "unit": "με"}, "bridge": {"id": "QL500108001", '
                      '"name": "东水门长江大桥"}, "ts": "2026-11-25 01:00:00", "value": 1.5, "alarm": %s}'}
_VALUES = [  # JSON text of one leaf: every JSON type, and strings that look like other types' text
    '"S1"', '"3.0"', '"1.5"', '"0.10"', '"1e5"', '"1e+20"', '"+5"', '" 5"', '"NaN"', '"nan"', '"inf"', '"Infinity"',
    '"{x"', '"[1"', '""', '"  "', '"\\u3000"', '"\\u00a0x"', '" x"', '"\\t"', '"a\\"b"', '"a\\\\b"', '"\\u0041"',
    '"με"', '"东水门"', '"١٢٣"', '"2026-11-25 01:00:00"', '"12345678901234567890"', '"true"', '"null"',
    '12', '-0', '0', '12345678901234567890123', '-9223372036854775809', '2.0', '-0.0', '1.5', '0.30000000000000004',
    '1E2', '1e20', '1e-5', '0.0001', '99999999999999.9', '999999999999999.0', '1e15', '1e400', '-1e400', 'NaN',
    'Infinity', '-Infinity', 'nan', 'true', 'false', 'null', '{"a": 1}', '[1, 2]']

_FIRST_SCAN = {'"S1"', '"1.5"', '"+5"', '" 5"', '""', '"  "', '"\\u3000"', '"\\u0041"', '"东水门"', '"με"',
               '"2026-11-25 01:00:00"', '"12345678901234567890"', '"true"', '12', '-0', '12345678901234567890123',
               'true', 'null'}
_SECOND_SCAN = {'"3.0"', '"{x"', '2.0', '1E2'}


@pytest.mark.parametrize("field", list(_TEMPLATE))
@pytest.mark.parametrize("value", _VALUES)
def test_a_jsonl_leaf_lands_as_the_tolerant_reader_lands_it(field, value, project):
    """Each JSON type in each kind of field, and strings that read like numbers, blanks or literals: the native
    reader lands what the tolerant one lands (or refuses the file and lets it), never something else."""
    folder = project.inbox_dir / "zjw" / "bridge_sensor_readings"
    folder.mkdir(parents=True)
    lines = [_TEMPLATE[field] % '"S9"' if field == "sensor.id" else _TEMPLATE[field] % "true", _TEMPLATE[field] % value]
    (folder / f"bridge_sensor_readings_{DAY}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, batch = _compare(get_contract("zjw/bridge_sensor_readings", project), DAY, project)
    if value in _FIRST_SCAN or (field == "value" and value in _SECOND_SCAN):  # a number field's leaf is JSON
        assert (batch.reader, batch.reader_reason) == ("native", "")
    elif value in _SECOND_SCAN:  # read as text, it may have been a double: read again as JSON
        assert batch.reader == "native" and batch.reader_reason.startswith("second native scan"), batch
    elif value in ("NaN", '{"a": 1}'):
        assert batch.reader == "tolerant"
