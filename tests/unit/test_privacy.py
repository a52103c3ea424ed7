"""Masking, keyed tokens (cityshare.privacy) and the cs_* DuckDB functions (cityshare.transform_udfs)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from cityshare import privacy
from cityshare.privacy import (
    keyed_token,
    mask_id_number,
    mask_mobile,
    mask_person_name,
    token_key,
    tokenizer,
    truncate_address,
)


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("+8613812345678", "138****5678"),
        ("8613812345678", "138****5678"),
        ("02368881234", "023****1234"),  # Chongqing landline: same 3 + 4 rule
        ("12345678", "123*5678"),
        ("1234567", "*******"),  # 3 + 4 would show everything: hide it all
        ("123", "***"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_mobile(raw, masked):
    assert mask_mobile(raw) == masked


def test_mask_mobile_never_returns_the_raw_number():
    for raw in ("13812345678", "15900000000", "19912345678"):
        out = mask_mobile(raw)
        assert out != raw and len(out) == 11 and out[3:7] == "****"


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("500112199001011234", "500112********1234"),
        ("11010519491231002X", "110105********002X"),
        ("11010519491231002x", "110105********002X"),  # check character upper-cased
        (" 500112199001011234 ", "500112********1234"),
        ("500112900101123", "500112*****1123"),  # old 15-digit number: birth date hidden too
        ("50011219900101", "**************"),  # not an ID number: nothing kept
        ("12345", "*****"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_id_number(raw, masked):
    assert mask_id_number(raw) == masked


def test_masked_id_number_matches_published_contract_pattern():
    import re

    assert re.fullmatch(r"[0-9]{6}\*{8}[0-9]{3}[0-9X]", mask_id_number("11010519491231002X"))


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("张三丰", "张**"),
        ("张三", "张*"),
        ("欧阳娜娜", "欧阳**"),  # compound surname kept whole
        ("欧阳", "欧*"),  # two characters only: surname + given name
        ("诸葛亮", "诸葛*"),
        (" 李四 ", "李*"),
        ("王", "*"),  # a single character may be the given name: hide it
        ("John Smith", "J*********"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_person_name(raw, masked):
    assert mask_person_name(raw) == masked


@pytest.mark.parametrize(
    ("raw", "truncated"),
    [
        ("南岸区南坪街道南坪西路23号", "南岸区南坪街道"),
        ("重庆市南岸区南坪街道南坪西路23号附1号", "重庆市南岸区南坪街道"),
        ("綦江区新乡镇新乡村3组", "綦江区新乡镇"),  # 乡 inside the town name is not the unit
        ("重庆市大足区镇东街道某路1号", "重庆市大足区镇东街道"),  # 镇 starting the street name
        ("北碚区澄江镇江东村5号", "北碚区澄江镇"),
        ("巫溪县红池坝镇茶山村", "巫溪县红池坝镇"),
        ("城口县高楠乡岭南村2组", "城口县高楠乡"),
        ("石柱土家族自治县南宾街道城南路1号", "石柱土家族自治县南宾街道"),
        ("渝中区城乡路12号", "渝中区"),  # 城乡路 is a road: fall back to the county
        ("渝中区解放碑民族路1号", "渝中区"),
        ("南坪西路23号", None),  # nothing safe to keep
        ("", ""),
        (None, None),
    ],
)
def test_truncate_address(raw, truncated):
    assert truncate_address(raw) == truncated


def test_keyed_token_is_hmac_sha256_hex():
    expected = hmac.new(b"k", b"13812345678", hashlib.sha256).hexdigest()
    assert keyed_token("13812345678", "k") == expected
    assert keyed_token("13812345678", b"k") == expected
    assert len(expected) == 64


def test_keyed_token_depends_on_key_and_value():
    assert keyed_token("a", "k1") != keyed_token("a", "k2")
    assert keyed_token("a", "k1") != keyed_token("b", "k1")
    assert keyed_token("张三", "k") == keyed_token("张三", "k")


@pytest.mark.parametrize("empty", [None, ""])
def test_keyed_token_none_safe(empty):
    assert keyed_token(empty, "k") is None
    assert tokenizer("k")(empty) is None


def test_tokenizer_equals_keyed_token():
    token = tokenizer("city-key")
    for value in ("13812345678", "11010519491231002X", "张三"):
        assert token(value) == keyed_token(value, "city-key")
        assert token(value) == token(value)  # the prepared HMAC is copied, never consumed


def test_token_key_reads_settings(monkeypatch):
    monkeypatch.setenv("CITYSHARE_TOKEN_KEY", "from-env")
    assert token_key() == "from-env"


def test_privacy_has_no_heavy_imports():
    with open(privacy.__file__, encoding="utf-8") as fh:
        text = fh.read()
    for heavy in ("import duckdb", "import dbt", "import pyarrow", "import pandas"):
        assert heavy not in text


# --- the dbt-duckdb plugin: cs_* SQL functions ---------------------------------------------------


@pytest.fixture
def con():
    duckdb = pytest.importorskip("duckdb")
    from cityshare.transform_udfs import register_udfs

    connection = duckdb.connect(":memory:")
    register_udfs(connection, key="udf-key")
    yield connection
    connection.close()


def test_udfs_call_privacy_functions(con):
    row = con.execute(
        "SELECT cs_mask_mobile('13812345678'), cs_mask_id_number('11010519491231002X'), "
        "cs_mask_person_name('张三丰'), cs_truncate_address('南岸区南坪街道南坪西路23号'), "
        "cs_token('13812345678')"
    ).fetchone()
    assert row == (
        "138****5678",
        "110105********002X",
        "张**",
        "南岸区南坪街道",
        keyed_token("13812345678", "udf-key"),
    )


def test_udfs_are_null_safe(con):
    row = con.execute(
        "SELECT cs_mask_mobile(NULL), cs_mask_id_number(NULL), cs_mask_person_name(NULL), "
        "cs_truncate_address(NULL), cs_token(NULL), cs_token('')"
    ).fetchone()
    assert row == (None,) * 6


def test_udfs_over_a_table(con):
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('13812345678'), (NULL), ('15900001111')) v(p)")
    got = con.execute("SELECT cs_mask_mobile(p) FROM t ORDER BY p NULLS LAST").fetchall()
    assert got == [("138****5678",), ("159****1111",), (None,)]


def test_plugin_registers_on_connection_and_cursors(tmp_path, monkeypatch):
    """dbt-duckdb calls configure_connection once per connection and configure_cursor per cursor;
    reopening the same file while another connection keeps it alive must still work."""
    duckdb = pytest.importorskip("duckdb")
    from cityshare.transform_udfs import Plugin

    monkeypatch.setenv("CITYSHARE_TOKEN_KEY", "plugin-key")
    path = str(tmp_path / "w.duckdb")
    plugin = Plugin(name="transform_udfs", plugin_config={})
    first = duckdb.connect(path)
    plugin.configure_connection(first)
    cursor = first.cursor()
    plugin.configure_cursor(cursor)
    expected = keyed_token("13812345678", "plugin-key")
    assert cursor.execute("SELECT cs_token('13812345678')").fetchone() == (expected,)

    keeper = duckdb.connect(path)  # keeps the database instance (and its catalog) alive
    first.close()
    second = duckdb.connect(path)
    plugin.configure_connection(second)  # fixed-name UDFs would fail here ("already exists")
    cursor = second.cursor()
    plugin.configure_cursor(cursor)
    assert cursor.execute("SELECT cs_mask_mobile('13812345678'), cs_token('13812345678')").fetchone() == (
        "138****5678",
        expected,
    )
    second.close()
    keeper.close()


def test_compiled_sql_never_holds_the_key(con):
    sql = con.execute(
        "SELECT macro_definition FROM duckdb_functions() WHERE function_name = 'cs_token'"
    ).fetchall()
    assert sql and all("udf-key" not in (m or "") for (m,) in sql)
