"""The true-cardinality cache never serves a count another counting code or another connection
setting made: its entries are keyed by the database's fingerprint, the counting code's version
(:data:`deepquery.cardinality.COUNTS_VERSION`) and the connection's settings that change a count
(``default_collation``, ``integer_division``, ...: :data:`deepquery.cardinality._SETTINGS`). A
foreign ``--db``'s fingerprint is its path, size and mtime, which a new deepquery does not
change: without the version the wrong counts of the code before 9659425 were served again."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from deepquery import TableStats, TrueCardinality, connect, parse_query
from deepquery._card_cache import CardinalityCache
from deepquery.cardinality import _attached_databases
from deepquery.database import fingerprint, schema_of

from .dq_helpers import deepquery_cli

JOIN = "SELECT count(*) FROM a, b WHERE a.id = b.aid"


def _two_tables(tmp_path, a_rows: str, b_rows: str):
    """A database file holding a(id INTEGER, x INT) and b(aid INTEGER, y INT) with these rows."""
    db = tmp_path / "t.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE a(id INTEGER, x INT)")
    con.execute("CREATE TABLE b(aid INTEGER, y INT)")
    con.execute(f"INSERT INTO a VALUES {a_rows}")
    con.execute(f"INSERT INTO b VALUES {b_rows}")
    con.close()
    return db


def test_a_count_cached_by_the_code_before_the_collation_fix_is_not_served(tmp_path):
    # The reviewer's repro: DuckDB counts 4 rows, the code before 9659425 counted 2 and cached
    # them under (fingerprint(con, db), count SQL). Old code: plan printed rows 2 again.
    db = tmp_path / "coll.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE a(id VARCHAR COLLATE NOCASE PRIMARY KEY, x INT)")
    con.execute("INSERT INTO a VALUES ('A', 1), ('b', 2)")
    con.execute("CREATE TABLE b(aid VARCHAR, y INT)")
    con.execute("INSERT INTO b VALUES ('a', 1), ('A', 2), ('B', 3), ('b', 4)")
    con.close()
    cache_dir = tmp_path / "cache"
    con = connect(db)
    g = parse_query(JOIN, schema_of(con))
    sql = TrueCardinality(g, TableStats(con), "fp").count_sql(g.full_mask)
    old = CardinalityCache(cache_dir / "true_cards.sqlite")
    old.put(fingerprint(con, db), sql, 2.0)  # what the code before 9659425 stored
    old.close()
    con.close()
    query = tmp_path / "coll.sql"
    query.write_text(JOIN + ";\n")
    r = deepquery_cli("plan", str(query), "--db", str(db), "--cards", "true", "--json",
                      cache=cache_dir)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows"] == 4
    # the cache file is still what data list and data clean take it for: kept
    r = deepquery_cli("data", "list", "--json", cache=cache_dir)
    assert r.returncode == 0, r.stderr
    assert [(Path(f["path"]).name, f["status"]) for f in json.loads(r.stdout)["files"]] == \
        [("true_cards.sqlite", "cache")]
    r = deepquery_cli("data", "clean", cache=cache_dir)
    assert r.returncode == 0, r.stderr
    assert (cache_dir / "true_cards.sqlite").is_file()


def test_a_count_made_under_another_default_collation_is_not_served(tmp_path):
    # 'A' = 'a' only under default_collation nocase. Old code: the second connection got the
    # first one's cached 0.
    db = tmp_path / "t.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE a(id VARCHAR, x INT)")
    con.execute("CREATE TABLE b(aid VARCHAR, y INT)")
    con.execute("INSERT INTO a VALUES ('A', 1)")
    con.execute("INSERT INTO b VALUES ('a', 1), ('A', 2)")
    con.close()
    path = tmp_path / "cards.sqlite"
    counts = []
    for setting in ("", "SET default_collation = 'nocase'", "PRAGMA default_collation = 'nocase'",
                    ""):
        con = connect(db)
        if setting:
            con.execute(setting)
        g = parse_query(JOIN, schema_of(con))
        cache = CardinalityCache(path)
        counts.append(TrueCardinality(g, TableStats(con), "fp", cache).card(g.full_mask))
        assert counts[-1] == con.execute(JOIN).fetchone()[0], setting
        cache.close()
        con.close()
    assert counts == [1, 2, 2, 1]


def test_counts_are_still_served_to_the_same_code_database_and_setting(tmp_path):
    db = _two_tables(tmp_path, "(1, 1)", "(1, 1), (1, 2)")
    computed = []
    for _ in range(2):
        con = connect(db)
        g = parse_query(JOIN, schema_of(con))
        cache = CardinalityCache(tmp_path / "cards.sqlite")
        cards = TrueCardinality(g, TableStats(con), "fp", cache)
        assert cards.card(g.full_mask) == 2
        computed.append(cards.computed)
        cache.close()
        con.close()
    assert computed == [1, 0]


def test_a_count_made_in_another_time_zone_is_not_served(tmp_path):
    # A TIMESTAMPTZ filter's literal is read in the connection's time zone, which DuckDB takes
    # from TZ: 00:30 UTC is before midnight in New York. Old code: the New York run printed
    # the UTC run's cached rows 0.
    db = tmp_path / "t.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE a(id INTEGER, ts TIMESTAMPTZ)")
    con.execute("CREATE TABLE b(aid INTEGER)")
    con.execute("INSERT INTO a VALUES (1, '2020-01-01 00:30:00+00')")
    con.execute("INSERT INTO b VALUES (1)")
    con.close()
    sql = "SELECT count(*) FROM a, b WHERE a.id = b.aid AND a.ts < '2020-01-01'"
    con = duckdb.connect(str(db), read_only=True)
    expected = []
    for tz in ("UTC", "America/New_York", "UTC"):
        con.execute(f"SET TimeZone = '{tz}'")
        expected.append(con.execute(sql).fetchone()[0])
    con.close()
    if expected != [0, 1, 0]:
        pytest.skip(f"this DuckDB has no time zones (ICU): counts {expected}")
    query = tmp_path / "q.sql"
    query.write_text(sql + ";\n")
    rows = []
    for tz in ("UTC", "America/New_York", "UTC"):
        r = deepquery_cli("plan", str(query), "--db", str(db), "--cards", "true", "--json",
                          cache=tmp_path / "cache", TZ=tz)
        assert r.returncode == 0, r.stderr
        rows.append(json.loads(r.stdout)["rows"])
    assert rows == expected


# (setting, value, a filter of ``a`` whose count the value changes). Each row of ``a`` joins
# one row of ``b``; o.a is another table ``a``, found first on search path 'o'.
SETTING_CASES = [
    ("integer_division", "true", "a.x / 2 = 2"),  # 4 only, or 4 and 5
    ("ieee_floating_point_ops", "false", "a.d / a.d IS NULL"),  # 0 / 0: NaN, or NULL
    ("default_order", "DESCENDING", "array_sort(a.l)[1] = 5"),
    ("default_null_order", "NULLS_FIRST", "array_sort(a.l)[1] IS NULL"),
    ("null_order", "NULLS_FIRST", "array_sort(a.l)[1] IS NULL"),  # default_null_order's alias
    ("search_path", "o", "a.x > 0"),
    ("schema", "o", "a.x > 0"),  # sets search_path
    ("old_implicit_casting", "true", "length(a.x) = 1"),  # else no length(INTEGER)
    ("disable_timestamptz_casts", "true", "CAST(a.tz AS TIMESTAMP) > TIMESTAMP '2019-01-01'"),
]


def _outcome(fn, *args):
    """What ``fn(*args)`` gives: a count, or the name of the DuckDB error it raises."""
    try:
        return fn(*args)
    except duckdb.Error as e:
        return type(e).__name__


@pytest.mark.parametrize(("setting", "value", "where"), SETTING_CASES,
                         ids=[c[0] for c in SETTING_CASES])
def test_a_count_made_under_another_connection_setting_is_not_served(tmp_path, setting, value,
                                                                      where):
    # A library caller's own connection may set any of these. Old code (the key had only the
    # time zone, calendar and default_collation): the second connection was served the
    # first's count (or a count where its own query raises), in both orders.
    known = duckdb.connect().execute("SELECT count(*) FROM duckdb_settings() WHERE name = ?",
                                     [setting]).fetchone()[0]
    if not known:  # disable_timestamptz_casts came after DuckDB 1.2
        pytest.skip(f"DuckDB {duckdb.__version__} has no setting {setting}")
    db = tmp_path / "t.duckdb"
    con = duckdb.connect(str(db))
    for schema in ("main", "o"):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(f"CREATE TABLE {schema}.a(id INTEGER, x INTEGER, d DOUBLE, l INTEGER[], "
                    "tz TIMESTAMPTZ)")
    con.execute("CREATE TABLE b(aid INTEGER)")
    con.execute("INSERT INTO a VALUES (1, 4, 0.0, [3, 1, NULL], '2020-01-01 00:00:00+00'), "
                "(2, 5, 1.0, [NULL, 2], '2020-01-01 00:00:00+00'), "
                "(3, 3, 0.0, [2, 5], '2020-01-01 00:00:00+00')")
    con.execute("INSERT INTO o.a VALUES (1, 7, 1.0, [], '2020-01-01 00:00:00+00')")
    con.execute("INSERT INTO b VALUES (1), (2), (3)")
    con.close()
    sql = f"SELECT count(*) FROM a, b WHERE a.id = b.aid AND {where}"
    for k, order in enumerate(((value, None), (None, value))):
        got, expected = [], []
        for v in order:
            con = connect(db)
            if v is not None:
                con.execute(f"SET {setting} = '{v}'")
            g = parse_query(sql, schema_of(con))
            cache = CardinalityCache(tmp_path / f"cards{k}.sqlite")
            cards = TrueCardinality(g, TableStats(con), "fp", cache)
            got.append(_outcome(cards.card, g.full_mask))
            expected.append(_outcome(lambda sql, c=con: c.execute(sql).fetchone()[0],
                                     cards.count_sql(g.full_mask)))
            cache.close()
            con.close()
        assert expected[0] != expected[1], "the setting no longer changes this count"
        assert got == expected, order


def test_a_count_another_duckdb_version_made_is_not_served(tmp_path, monkeypatch):
    # A foreign --db keeps its fingerprint (path, size, mtime) across a DuckDB upgrade, and
    # DuckDB's rules change between versions. Old code: the count cached under another
    # version (here a wrong 5) was served.
    db = _two_tables(tmp_path, "(1, 1)", "(1, 1), (1, 2)")
    con = connect(db)
    g = parse_query(JOIN, schema_of(con))
    path = tmp_path / "cards.sqlite"
    with monkeypatch.context() as m:
        m.setattr(duckdb, "__version__", "0.9.2")
        old = TrueCardinality(g, TableStats(con), "fp")
        cache = CardinalityCache(path)
        cache.put(old._fp, old.count_sql(g.full_mask), 5.0)
        cache.close()
    cache = CardinalityCache(path)
    assert TrueCardinality(g, TableStats(con), "fp", cache).card(g.full_mask) == 2
    cache.close()
    con.close()


@pytest.mark.parametrize("temporary", [
    "CREATE TEMP TABLE a AS SELECT 1 AS id, 1 AS x",  # hides main.a
    "CREATE TEMP VIEW a AS SELECT 1 AS id, 1 AS x",
    "CREATE TEMP MACRO abs(v) AS v + 100",  # replaces the built-in abs
])
def test_counts_on_a_connection_with_temporary_objects_are_not_cached(tmp_path, temporary,
                                                                      caplog):
    # A library caller's connection may hold temporary objects that change what a count reads,
    # and a temporary table's rows can change under one name: no key holds that. Old code: the
    # count made under the temporary object was served to a plain connection (and back).
    db = _two_tables(tmp_path, "(1, 1), (2, -2)", "(1, 1), (2, 2)")
    sql = JOIN + " AND abs(a.x) < 5"
    got, expected = [], []
    for with_temporary in (True, False, True):
        con = connect(db)
        if with_temporary:
            con.execute(temporary)
        g = parse_query(sql, schema_of(con))
        cache = CardinalityCache(tmp_path / "cards.sqlite")
        got.append(TrueCardinality(g, TableStats(con), "fp", cache).card(g.full_mask))
        expected.append(con.execute(sql).fetchone()[0])
        cache.close()
        con.close()
    assert expected[0] != expected[1]
    assert got == expected
    assert "true cardinalities are not cached: the connection has temporary objects" in \
        caplog.text


def test_a_plain_connection_has_no_temporary_objects(tmp_path):
    # DuckDB 1.2 lists its own macros (list_count, list_entropy, ...) under 'temp': the old
    # query took them for a caller's, so under the lowest supported DuckDB no count was ever
    # cached (.ci/run-min: the cache tests failed).
    from deepquery.cardinality import _temporary_objects
    db = _two_tables(tmp_path, "(1, 1)", "(1, 1)")
    con = connect(db)
    assert _temporary_objects(con) == []
    con.close()
    raw = duckdb.connect()
    raw.execute("CREATE TEMP MACRO abs(v) AS v + 100")
    assert _temporary_objects(raw) == ["abs"]


@pytest.mark.parametrize("use", ["USE z", "SET search_path = 'z.main'"])
def test_counts_on_a_connection_reading_an_attached_database_are_not_cached(tmp_path, use,
                                                                         caplog):
    # A library caller's connection that attached another file as z and reads its tables: the
    # key held search_path 'z.main', a name, not the file. Old code: the count made with one
    # file attached as z (1 row) was served with another file attached as z (3 rows).
    db = _two_tables(tmp_path, "(1, 1)", "(1, 1)")
    got, expected = [], []
    for rows in (1, 3):
        other = tmp_path / f"z{rows}.duckdb"
        con = duckdb.connect(str(other))
        con.execute("CREATE TABLE a AS SELECT range::INTEGER AS id, 1 AS x FROM range(?)", [rows])
        con.execute("CREATE TABLE b AS SELECT range::INTEGER AS aid, 1 AS y FROM range(?)", [rows])
        con.close()
        con = duckdb.connect(str(db), read_only=True)  # deepquery's connect allows no ATTACH
        con.execute(f"ATTACH '{other}' AS z (READ_ONLY)")
        con.execute(use)
        g = parse_query(JOIN, schema_of(con))
        cache = CardinalityCache(tmp_path / "cards.sqlite")
        got.append(TrueCardinality(g, TableStats(con), fingerprint(con, db), cache).card(
            g.full_mask))
        expected.append(con.execute(JOIN).fetchone()[0])
        cache.close()
        con.close()
    assert expected == [1, 3]
    assert got == expected
    assert "true cardinalities are not cached: the connection has several databases (t, z)" in \
        caplog.text
    # one database: cached as before
    con = connect(db)
    assert _attached_databases(con) == []
    con.close()


def test_rows_a_killed_writer_left_in_the_write_ahead_log_are_counted(tmp_path):
    # A process that inserted rows and died without closing leaves them in t.duckdb.wal, which
    # every later connection reads, while t.duckdb's size and mtime (a foreign --db's key) are
    # as they were. Old code: plan printed the count cached before, rows 1 where DuckDB counts 3.
    db = _two_tables(tmp_path, "(1, 1)", "(1, 1)")
    query = tmp_path / "q.sql"
    query.write_text(JOIN + ";\n")
    rows = []
    for step in range(2):
        if step:
            subprocess.run([sys.executable, "-c", "import duckdb, os, sys; "
                            "c = duckdb.connect(sys.argv[1]); "
                            "c.execute('INSERT INTO b VALUES (1, 2), (1, 3)'); os._exit(0)",
                            str(db)], check=True, timeout=60)
            assert Path(f"{db}.wal").is_file()
        r = deepquery_cli("plan", str(query), "--db", str(db), "--cards", "true", "--json",
                          cache=tmp_path / "cache")
        assert r.returncode == 0, r.stderr
        rows.append(json.loads(r.stdout)["rows"])
    con = connect(db)
    assert rows == [1, con.execute(JOIN).fetchone()[0]] == [1, 3]
    con.close()


def test_another_file_of_one_relative_path_size_and_mtime_is_not_served(tmp_path):
    # DuckDB files of a few tables have one size, and tar or cp -p keep an mtime. Old code keyed
    # a foreign --db by the path as given, size and mtime: --db t.duckdb in folder two, and a
    # file put in t.duckdb's place, were served folder one's count (1 where DuckDB counts 0).
    query = tmp_path / "q.sql"
    query.write_text(JOIN + ";\n")
    mtime = 1_700_000_000_000_000_000
    for folder, a_rows, b_rows in (("one", "(1, 1)", "(1, 1)"), ("two", "(1, 1)", "(2, 1)"),
                                   ("three", "(2, 1)", "(1, 1)")):
        (tmp_path / folder).mkdir()
        os.utime(_two_tables(tmp_path / folder, a_rows, b_rows), ns=(mtime, mtime))
    assert len({(tmp_path / f / "t.duckdb").stat().st_size
                for f in ("one", "two", "three")}) == 1
    rows = []
    for step, folder in enumerate(("one", "two", "one")):
        if step == 2:  # a file put in its place, as tar does: same path, size and mtime
            os.replace(tmp_path / "three" / "t.duckdb", tmp_path / folder / "t.duckdb")
        r = subprocess.run([sys.executable, "-m", "deepquery", "plan", str(query), "--db",
                            "t.duckdb", "--cards", "true", "--json", "--cache-dir",
                            str(tmp_path / "cache")], cwd=tmp_path / folder, capture_output=True,
                           text=True, timeout=120, check=False)
        assert r.returncode == 0, r.stderr
        rows.append(json.loads(r.stdout)["rows"])
    assert rows == [1, 0, 0]


@pytest.mark.parametrize("where", ["a.d <= current_date", "a.t <= now()",
                                   "a.t <= current_timestamp", "a.x < random() * 10"])
def test_a_count_under_the_clock_or_chance_is_not_cached(tmp_path, where, caplog):
    # A count made today under a.d <= current_date is another count once the clock passes a.d
    # (here a count cached before it did, 0). Old code: the cached count was served.
    db = tmp_path / "t.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE a(id INTEGER, x INTEGER, d DATE, t TIMESTAMPTZ)")
    con.execute("CREATE TABLE b(aid INTEGER)")
    con.execute("INSERT INTO a VALUES (1, -1, '2020-01-01', '2020-01-01 00:00:00+00')")
    con.execute("INSERT INTO b VALUES (1)")
    con.close()
    sql = f"{JOIN} AND {where}"
    con = connect(db)
    g = parse_query(sql, schema_of(con))
    path = tmp_path / "cards.sqlite"
    cache = CardinalityCache(path)
    stale = TrueCardinality(g, TableStats(con), "fp")
    cache.put(stale._fp, stale.count_sql(g.full_mask), 0.0)  # counted before 2020
    cache.close()
    cache = CardinalityCache(path)
    cards = TrueCardinality(g, TableStats(con), "fp", cache)
    assert cards.card(g.full_mask) == con.execute(sql).fetchone()[0] == 1
    cache.close()
    con.close()
    assert "true cardinalities are not cached" in caplog.text
    # a query without one is cached as before
    con = connect(db)
    g = parse_query(JOIN, schema_of(con))
    cache = CardinalityCache(path)
    assert TrueCardinality(g, TableStats(con), "fp", cache)._cache is cache
    cache.close()
    con.close()
