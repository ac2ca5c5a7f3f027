"""The table deepquery resolves each unqualified name of a query to is the one DuckDB reads,
for any search path (``SET search_path``, ``SET schema``, ``USE``) of a library caller's
connection: several schemas and attached databases holding tables of one name, temporary
tables, entries that are a schema, a database, or both, quoted or not."""
from __future__ import annotations

import random

import duckdb
import pytest

from deepquery import connect, parse_query
from deepquery.database import (
    SearchPathError,
    _search_path_entries,
    _search_schemas,
    column_domains,
    column_types,
    schema_of,
)

CATALOGS = ("memory", "db2", "d.b")
SCHEMAS = ("main", "s", "Up", "x.y", 'q"r', 'e",f', "db2")
"""A schema ``db2`` of a database makes the bare name ``db2`` a schema there, a database
elsewhere; ``x.y``, ``q"r`` and ``e",f`` are written quoted in a search path (DuckDB 1.2.2 writes
back the last two otherwise than 1.5)."""
NAMES = ("a", "b", "c", "D")


def _quoted(name: str, always: bool = False) -> str:
    """``name`` as a search path entry or SQL identifier writes it."""
    if always or any(ch in name for ch in '.,"'):
        return '"' + name.replace('"', '""') + '"'
    return name


def _written(rng: random.Random, name: str) -> str:
    """``name`` in a random case (DuckDB looks names up case-insensitively), maybe quoted."""
    name = "".join(ch.upper() if rng.random() < 0.3 else ch for ch in name)
    return _quoted(name, always=rng.random() < 0.3)


def _set_up(rng: random.Random) -> tuple[duckdb.DuckDBPyConnection, list[tuple[str, str]],
                                          dict[int, tuple[str, str]]]:
    """An in-memory connection with databases ``CATALOGS``, some of ``SCHEMAS`` in each, and
    tables of ``NAMES`` in some of them (and some temporary ones): table number ``k`` has one
    column ``c{k}`` holding ``k``. Returns the connection, the ``(catalog, schema)`` of the
    schemas made and of each table number (lower case)."""
    con = duckdb.connect()
    for catalog in CATALOGS[1:]:
        con.execute(f"ATTACH ':memory:' AS {_quoted(catalog)}")
    schemas, where, k = [], {}, 0
    for catalog in CATALOGS:
        for schema in SCHEMAS:
            if schema != "main" and rng.random() < 0.4:
                continue
            if schema != "main":
                con.execute(f"CREATE SCHEMA {_quoted(catalog, True)}.{_quoted(schema, True)}")
            schemas.append((catalog, schema))
            for name in NAMES:
                if rng.random() < 0.5:
                    k += 1
                    where[k] = (catalog.lower(), schema.lower())
                    con.execute(f"CREATE TABLE {_quoted(catalog, True)}.{_quoted(schema, True)}."
                                f'"{name}" AS SELECT {k} AS c{k}')
    for name in NAMES:
        if rng.random() < 0.15:
            k += 1
            where[k] = ("temp", "main")
            con.execute(f'CREATE TEMP TABLE "{name}" AS SELECT {k} AS c{k}')
    return con, schemas, where


def _search_statement(rng: random.Random, schemas: list[tuple[str, str]]) -> str:
    """A random ``SET search_path``, ``SET schema``, ``USE`` or ``RESET``: entries that name a
    schema alone, a database alone or both, some that name none (DuckDB refuses them)."""
    def entry() -> str:
        catalog, schema = rng.choice(schemas)
        form = rng.random()
        if form < 0.4:
            return _written(rng, schema)
        if form < 0.6:
            return _written(rng, catalog)
        return f"{_written(rng, catalog)}.{_written(rng, schema)}"

    kind = rng.random()
    if kind < 0.7:
        return f"SET search_path = '{','.join(entry() for _ in range(rng.randint(1, 4)))}'"
    if kind < 0.85:
        return f"SET schema = '{entry()}'"
    if kind < 0.95:
        catalog, schema = rng.choice(schemas)
        return f"USE {_quoted(catalog, True)}" + \
            (f".{_quoted(schema, True)}" if rng.random() < 0.5 else "")
    return "RESET search_path"


def _duckdb_reads(con: duckdb.DuckDBPyConnection, name: str) -> int | None:
    """The number of the table DuckDB reads for ``name`` (``main.x``: qualified), None where
    it finds none."""
    try:
        return con.execute(f"SELECT * FROM {name}").fetchone()[0]
    except duckdb.CatalogException:
        return None


def test_each_name_resolves_to_the_table_duckdb_reads_under_random_search_paths():
    # Old code read the search path's first entry only (and main after it when it had one
    # entry): a table of a later entry was unknown, or another table of its name was read.
    # ``later`` counts the names read from neither temp nor the first entry.
    rng = random.Random(20)
    checked = later = 0
    for _ in range(12):
        con, schemas, where = _set_up(rng)
        for _ in range(8):
            statement = _search_statement(rng, schemas)
            try:
                con.execute(statement)
            except duckdb.Error:  # names no schema nor database: DuckDB keeps the old path
                continue
            schema, first = schema_of(con), _search_schemas(con)[:2]
            for name in NAMES:
                read = _duckdb_reads(con, f'"{name}"')
                ours = schema.get(name.lower())
                ours = None if ours is None else int(ours[0][1:])
                assert ours == read, (statement, con.execute(
                    "SELECT current_setting('search_path')").fetchone(), name)
                if read is not None:
                    qualified = _duckdb_reads(con, f'main."{name}"')
                    assert (name.lower() in schema.main_tables) == (qualified == read), \
                        (statement, name)
                checked += 1
                later += read is not None and where[read] not in first
        con.close()
    assert checked > 200 and later > 5, (checked, later)


@pytest.mark.parametrize("text", [
    'db2.s,"x.y","d.b"."q""r",Main,"D.B"."e"",f",memory.db2',  # DuckDB 1.5
    'db2.s,"x.y","d.b".q"r,Main,"D.B"."e",f",memory.db2',  # 1.2.2: quotes as they are
])
def test_the_search_path_is_read_as_duckdb_writes_it(text):
    schemas = ["s", "x.y", 'q"r', "Main", 'e",f', "db2"]
    assert _search_path_entries(text, schemas, ["memory", "db2", "d.b", "temp"]) == [
        ("db2", "s"), ("", "x.y"), ("d.b", 'q"r'), ("", "main"), ("d.b", 'e",f'),
        ("memory", "db2")]
    assert _search_path_entries("", [], ["memory"]) == []
    with pytest.raises(SearchPathError, match="names a database that is not attached"):
        _search_path_entries(text, schemas, ["memory", "db2"])  # d.b detached


@pytest.mark.parametrize("entries", ["main,db2.main", "main,db2", "main,db2.s",
                                     'main,"d.b".s', "s,db2.main"])
@pytest.mark.parametrize("read", [schema_of, column_types, column_domains])
def test_a_search_path_naming_a_detached_database_is_one_clear_error(entries, read):
    # DuckDB binds no statement naming a catalog once a database the search path names is
    # detached. Old code let DuckDB's 'Binder Error: Catalog "db2" does not exist!' out of
    # schema_of (a RuntimeError 'cannot read DuckDB's search_path' where DuckDB still showed
    # the entry): neither says that the connection's search path is the problem.
    con = duckdb.connect()
    con.execute("CREATE SCHEMA s")
    con.execute("CREATE TABLE t AS SELECT 1 AS id")
    database = '"d.b"' if "d.b" in entries else "db2"
    con.execute(f"ATTACH ':memory:' AS {database}")
    con.execute(f"CREATE SCHEMA {database}.s")
    con.execute(f"SET search_path = '{entries}'")
    con.execute(f"DETACH {database}")
    with pytest.raises(SearchPathError, match=r"search_path names database '(db2|d\.b)', "
                       "which is not attached .*SET search_path"):
        read(con)
    con.execute("SET search_path = 'main'")  # the way out the message names
    assert "t" in schema_of(con)


def test_a_table_only_in_the_second_entry_of_the_search_path_is_read(tmp_path):
    # Under SET search_path = 'o,p' DuckDB reads o.a, o.b and p.c. Old code read o alone:
    # 'unknown table: c', a query DuckDB runs.
    db = tmp_path / "t.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA o")
    con.execute("CREATE SCHEMA p")
    con.execute("CREATE TABLE o.a AS SELECT 1 AS id")
    con.execute("CREATE TABLE o.b AS SELECT 1 AS aid")
    con.execute("CREATE TABLE p.c AS SELECT 1 AS aid FROM range(3)")
    con.execute("CREATE TABLE c AS SELECT 1 AS other")  # main's c, read after o and p
    con.close()
    con = connect(db)
    con.execute("SET search_path = 'o,p'")
    sql = "SELECT count(*) FROM a, b, c WHERE a.id = b.aid AND a.id = c.aid"
    graph = parse_query(sql, schema_of(con))
    assert [r.columns for r in graph.relations] == [("id",), ("aid",), ("aid",)]
    assert con.execute(sql).fetchone()[0] == 3
    con.close()
