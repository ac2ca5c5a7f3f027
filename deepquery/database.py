"""The DuckDB side: read-only connections, schema, table statistics and guarded execution.

Every statement deepquery sends for a user's query goes through :func:`execute_select` (or
:func:`timed_select`, :func:`select_columns`, :func:`bind`), which re-parses it with sqlglot and
refuses anything but one read-only SELECT before DuckDB sees it;
the database file is always opened with ``read_only=True`` and DuckDB's external access off, so
``plan`` and ``run`` cannot modify it, nor read or write any other file, even by accident.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import sqlglot
from sqlglot import exp
from sysml_datasets.imdb import stored_fingerprint

from .query_graph import QueryGraph, Schema, parse_statement, quote

logger = logging.getLogger(__name__)


def connect(path: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB database file read-only."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"database not found: {path}")
    con = duckdb.connect(str(path), read_only=True)
    # No DuckDB progress bar: it would write to stdout and corrupt --json output.
    con.execute("SET enable_progress_bar = false")
    # No files, extensions or other databases: a user's query that slips past the SQL checks
    # still cannot read or write outside this database (DuckDB refuses, it cannot be undone).
    con.execute("SET enable_external_access = false")
    return con


def fingerprint(con: duckdb.DuckDBPyConnection, path: str | os.PathLike | None = None) -> str:
    """The generator's fingerprint when the file has one, else a hash of its absolute path
    (``--db t.duckdb`` in two folders is two files), inode (a file put in its place: ``tar``
    keeps the mtime, and DuckDB files of a few tables have one size), size and mtime, and of
    its write-ahead log's (``PATH.wal``) when it has one: a process that wrote the file and did
    not close it (killed, crashed) leaves its committed rows there, which every connection
    reads, with the file's own size and mtime as they were.

    A ``_sysml_meta`` table that is not the generator's (another tool's, a damaged one: a value
    that is not a JSON string) counts as none: the fingerprint only keys cached counts."""
    value = stored_fingerprint(con)
    if isinstance(value, str):
        return value
    st = os.stat(path) if path else None
    key = f"{os.path.abspath(path)}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}" if st else \
        "unknown"
    try:
        wal = os.stat(f"{path}.wal") if path else None
    except OSError:  # none
        wal = None
    if wal is not None:
        key += f":wal:{wal.st_size}:{wal.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class SearchPathError(ValueError):
    """A connection's search path that no table name can be read through: one of its entries
    names a database that was detached after it was set, so DuckDB binds no query there."""


_NO_CATALOG = re.compile(r'Catalog "(.*)" does not exist', re.DOTALL)


def _written_names(name: str) -> tuple[str, ...]:
    """How DuckDB writes ``name`` in ``current_setting('search_path')``: in double quotes when it
    holds a dot or a comma; 1.5 quotes one that holds a quote too, doubling its quotes, 1.2.2
    writes quotes as they are (``e"."f`` as ``"e"."f"``, which its own parser cannot read)."""
    escaped = '"' + name.replace('"', '""') + '"' if any(c in name for c in '.,"') else name
    as_is = '"' + name + '"' if any(c in name for c in ".,") else name
    return (escaped,) if as_is == escaped else (escaped, as_is)


def _search_path_entries(text: str, schemas: list[str],
                         databases: list[str]) -> list[tuple[str, str]]:
    """``(database, schema)`` (lower case; database ``""`` where the entry names none) of each
    entry of a search path as DuckDB writes it (``text``), first first, given DuckDB's own
    list of their schemas (``current_schemas(false)``) and the names of the databases an entry
    may name: the text says only which database each entry names, and, written by 1.2.2, says
    it ambiguously, which the names it must be make plain."""
    text, out, pos = text.lower(), [], 0
    for schema in (s.lower() for s in schemas):
        for database in ["", *(d.lower() for d in databases)]:
            prefixes = [w + "." for w in _written_names(database)] if database else [""]
            written = [p + w for p in prefixes for w in _written_names(schema)]
            match = next((w for w in written if text.startswith(w, pos) and
                          text[pos + len(w):pos + len(w) + 1] in ("", ",")), None)
            if match is not None:
                out.append((database, schema))
                pos += len(match) + 1
                break
        else:
            break
    if len(out) != len(schemas) or pos < len(text):
        # The one way known: an entry's database was detached after it was set (DuckDB 1.2
        # still shows the entry; 1.5 refuses every statement that names a catalog, see
        # :func:`_search_schemas`).
        raise SearchPathError(
            f"the connection's search_path {text!r} names a database that is not attached "
            f"(attached: {', '.join(databases)}); was it DETACHed after SET search_path or "
            "USE? SET search_path (or USE) again")
    return out


def _search_schemas(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """The ``(database, schema)`` pairs, lower case, that an unqualified table name of a query
    is looked up in on ``con``, first first, as DuckDB's ``CatalogSearchPath`` does: the
    connection's temporary tables and views (``temp.main``, which hide the database's of their
    name), every entry of its search path in order (``SET search_path = 'o,db2.s'``, ``SET
    schema``, ``USE``), then ``main``. DuckDB keeps each entry as it resolved it when it was
    set (a bare name: a schema, else a database and its default schema) and says which it is
    (:func:`_search_path_entries`); an entry without a database, and the final ``main``, are
    of ``current_database()``, which is the first entry's database when it names one: under
    ``'db2.s,main'``, ``main`` is ``db2.main``. The system catalog's ``main`` and
    ``pg_catalog`` that DuckDB searches last hold no user tables."""
    try:
        database, text, schemas = con.execute(
            "SELECT current_database(), current_setting('search_path'), current_schemas(false)"
            ).fetchone()
    except duckdb.BinderException as e:
        # This statement names no catalog: the one DuckDB cannot find is the search path's.
        missing = _NO_CATALOG.search(str(e))
        if missing is None:
            raise
        raise SearchPathError(
            f"the connection's search_path names database {missing.group(1)!r}, which is not "
            "attached (DETACHed after SET search_path or USE?): DuckDB binds no table name on "
            "this connection until search_path is SET (or USE) again") from None
    databases = [d for (d,) in con.execute("SELECT database_name FROM duckdb_databases()")
                 .fetchall()]
    out = [("temp", "main")]
    for pair in [*((d or database.lower(), s) for d, s in
                   _search_path_entries(text or "", schemas, databases)),
                 (database.lower(), "main")]:
        if pair not in out:
            out.append(pair)
    return out


def _resolved_tables(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    """``table -> (database, schema)`` (lower case) of the table or view each unqualified name
    of a query reads on ``con`` (:func:`_search_schemas`: the first of its search path that has
    one), a temporary one where the connection has it; never one of a database or schema its
    search path does not name (``information_schema`` lists them all)."""
    order = _search_schemas(con)
    rank = {pair: k for k, pair in enumerate(order)}
    out: dict[str, tuple[str, str]] = {}
    for database, schema, table in con.execute(
            "SELECT table_catalog, table_schema, table_name FROM information_schema.tables"
            ).fetchall():
        pair, table = (database.lower(), schema.lower()), table.lower()
        if pair in rank and (table not in out or rank[pair] < rank[out[table]]):
            out[table] = pair
    return out


def _columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """``(table, column, DuckDB type)`` of the tables :func:`_resolved_tables` names, lower-case
    names, in each table's column order."""
    resolved = _resolved_tables(con)
    rows = con.execute(
        "SELECT table_catalog, table_schema, table_name, column_name, data_type "
        "FROM information_schema.columns ORDER BY table_name, ordinal_position").fetchall()
    return [(t.lower(), c.lower(), ty) for d, s, t, c, ty in rows
            if resolved.get(t.lower()) == (d.lower(), s.lower())]


def schema_of(con: duckdb.DuckDBPyConnection) -> Schema:
    """Table -> column names of the user tables (deepquery's own metadata tables excluded), with
    each column's equality domain (:func:`column_domains`). The tables the query's names read
    (:func:`_resolved_tables`: the first of the search path's schemas that has one, the
    connection's temporary tables first): not those of another database a library caller's
    connection attached, nor of another schema, that its search path does not name. Its
    ``main_tables``, those a query may also write ``main.name``, are those read from a schema
    ``main``: DuckDB reads ``main.name`` from the first of the search path's schemas ``main``
    that has one, which is the table ``name`` reads when its own is one of them."""
    out: dict[str, list[str]] = {}
    for t, c, _ in _columns(con):
        if not t.startswith("_sysml"):
            out.setdefault(t, []).append(c)
    domains = column_domains(con)
    resolved = _resolved_tables(con)
    return Schema({t: tuple(c) for t, c in out.items()},
                  {(t, c): domains[(t, c)] for t, cs in out.items() for c in cs
                   if (t, c) in domains},
                  {t for t in out if resolved.get(t, ("", ""))[1] == "main"})


def column_types(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str]:
    """``(table, column) -> DuckDB type`` of the user tables (lower-case names, as
    :func:`schema_of`)."""
    return {(t, c): ty for t, c, ty in _columns(con)}


INTEGER_TYPES = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                           "UINTEGER"})
"""Integer types whose every value a BIGINT holds: DuckDB compares any two of them exactly."""


def column_domains(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str]:
    """``(table, column) -> domain`` (lower-case names): two columns of one domain compare with
    ``=`` as an equivalence over one set of values, so ``x = y AND x = z`` implies ``y = z``
    (:func:`deepquery.query_graph.parse_query` adds that edge only then). The domain is the
    type, ``integer`` for every one of :data:`INTEGER_TYPES`; a collated VARCHAR's is its
    collation's (``VARCHAR COLLATE NOCASE``): DuckDB compares two columns of one collation by
    the one key it makes of each value (lower case, accents stripped, ICU's sort key), an
    equivalence. One spelling: DuckDB refuses to compare NOCASE with nocase, or with NOACCENT
    ('Cannot combine types with different collation'). An uncollated VARCHAR is not of that
    domain: ``a.id COLLATE NOCASE = b.aid`` and ``a.id = c.aid`` hold for b.aid 'a' and c.aid
    'A', ``b.aid = c.aid`` does not.
    A view's VARCHAR (its query may collate it) and one whose collation is not read
    (:func:`declared_collations`: None) have a domain of their own. Columns of different types
    are different domains: DuckDB casts one side (INTEGER 1 equals VARCHAR '1' and '01'; BIGINT
    2^53 + 1 equals DOUBLE 2^53, which equals BIGINT 2^53). A connection's
    ``default_collation`` applies to every uncollated VARCHAR alike, so it changes no domain."""
    declared = declared_collations(con)
    out = {}
    for (t, c), ty in column_types(con).items():
        if ty in INTEGER_TYPES:
            out[(t, c)] = "integer"
        elif ty == "VARCHAR" and declared.get((t, c)) != "":
            collation = declared.get((t, c))
            out[(t, c)] = f"VARCHAR of {t}.{c}" if collation is None else \
                f"VARCHAR COLLATE {collation}"
        else:
            out[(t, c)] = ty
    return out


def key_domains(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str]:
    """The :func:`column_domains` of the columns whose ``=`` on ``con`` holds only between
    equal values, so that no two values of a primary key equal one value: every column but a
    VARCHAR that is collated or a view's, and any VARCHAR while ``con`` has a
    ``default_collation``. A NOCASE primary key holds 'A' and 'a' (DuckDB's index keeps the
    bytes), and both equal 'a' under NOCASE; so do a plain VARCHAR key's when the other side
    of the ``=`` is NOCASE or the connection compares every VARCHAR under it."""
    plain = set() if default_collation(con) else declared_uncollated(con)
    types = column_types(con)
    return {tc: d for tc, d in column_domains(con).items()
            if types[tc] != "VARCHAR" or tc in plain}


def default_collation(con: duckdb.DuckDBPyConnection) -> str:
    """``con``'s ``default_collation`` (``SET`` or ``PRAGMA``; empty when none): a connection's
    setting, not stored in the database file, applied to every VARCHAR comparison."""
    rows = con.execute("SELECT value FROM duckdb_settings() "
                       "WHERE name = 'default_collation'").fetchall()
    return str(rows[0][0] or "") if rows else ""


def declared_uncollated(con: duckdb.DuckDBPyConnection,
                        tables: set[str] | None = None) -> set[tuple[str, str]]:
    """``(table, column)`` of the base tables (of ``tables``, lower case; default all) whose
    columns are declared without a collation (:func:`declared_collations`). Views are never in
    the set. The connection's ``default_collation`` is not looked at
    (:func:`default_collation`)."""
    return {tc for tc, collation in declared_collations(con, tables).items() if collation == ""}


def declared_collations(con: duckdb.DuckDBPyConnection,
                        tables: set[str] | None = None) -> dict[tuple[str, str], str | None]:
    """``(table, column) -> collation`` of the base tables' columns (of ``tables``, lower case;
    default all): ``""`` for none, the collation's name as written (``NOCASE``,
    ``nocase.noaccent``) when the column's one COLLATE is its type's, None when a COLLATE is
    elsewhere in its definition (a default, a generated expression) or cannot be read. Neither
    ``information_schema.columns`` nor ``duckdb_columns()`` shows a column's collation (both
    say VARCHAR), the CREATE TABLE statement DuckDB writes back for each table
    (``duckdb_tables().sql``) does: a table whose statement has no COLLATE has none; otherwise
    its statement is read with sqlglot, every column None when it cannot be. Views are not in
    it."""
    resolved = _resolved_tables(con)
    rows = con.execute(
        "SELECT t.database_name, t.schema_name, t.table_name, t.sql, list(c.column_name) "
        "FROM duckdb_tables() AS t "
        "JOIN duckdb_columns() AS c USING (database_name, schema_name, table_name) "
        "GROUP BY t.database_name, t.schema_name, t.table_name, t.sql").fetchall()
    out: dict[tuple[str, str], str | None] = {}
    for database, schema, table, sql, names in rows:
        table = table.lower()
        if resolved.get(table) != (database.lower(), schema.lower()) or \
                (tables is not None and table not in tables):
            continue
        names = {n.lower() for n in names}
        collated = _collations_in_create(sql, names) if "COLLATE" in sql.upper() else {}
        out.update({(table, n): collated.get(n, "") for n in names})
    return out


def _collated_in_create(sql: str, names: set[str]) -> set[str]:
    """The columns (of ``names``) whose definition in a CREATE TABLE statement has a COLLATE;
    all of ``names`` when sqlglot cannot read the statement or finds other columns in it."""
    return set(_collations_in_create(sql, names))


def _collations_in_create(sql: str, names: set[str]) -> dict[str, str | None]:
    """The columns (of ``names``) whose definition in a CREATE TABLE statement has a COLLATE,
    each with its collation (as written) when that is the definition's one COLLATE and a
    ``COLLATE name`` constraint, else None; all of ``names`` (None) when sqlglot cannot read
    the statement or finds other columns in it."""
    unread: dict[str, str | None] = dict.fromkeys(names)
    try:
        create = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.SqlglotError:
        return unread
    schema = create.this if isinstance(create, exp.Create) else None
    if not isinstance(schema, exp.Schema):
        return unread
    defs = [e for e in schema.expressions if isinstance(e, exp.ColumnDef)]
    if {d.name.lower() for d in defs} != names:
        return unread
    out: dict[str, str | None] = {}
    for d in defs:
        parts = [part for part in (d.args.get("kind"), *(d.args.get("constraints") or []))
                 if part is not None and "COLLATE" in part.sql(dialect="duckdb").upper()]
        if parts:
            out[d.name.lower()] = _collation_name(parts[0]) if len(parts) == 1 else None
    return out


def _collation_name(part: exp.Expression) -> str | None:
    """The collation of a column definition's ``COLLATE name`` constraint, as DuckDB spells it
    (dotted when combined: ``nocase.noaccent``); None for any other part that holds a
    COLLATE."""
    kind = part.args.get("kind") if isinstance(part, exp.ColumnConstraint) else None
    name = kind.this if isinstance(kind, exp.CollateColumnConstraint) else None
    if isinstance(name, exp.Column):
        return ".".join(p.name for p in name.parts)
    if isinstance(name, (exp.Identifier, exp.Var)):
        return name.name
    return None


def primary_keys(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """``table -> column`` of the tables whose primary key is one column (DuckDB enforces it:
    unique, never NULL), of the tables the query's names read (:func:`_resolved_tables`)."""
    resolved = _resolved_tables(con)
    rows = con.execute("SELECT database_name, schema_name, table_name, constraint_column_names "
                       "FROM duckdb_constraints() "
                       "WHERE constraint_type = 'PRIMARY KEY'").fetchall()
    return {t.lower(): cols[0].lower() for d, s, t, cols in rows
            if len(cols) == 1 and resolved.get(t.lower()) == (d.lower(), s.lower())}


def execute_select(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    """Run one read-only SELECT in DuckDB's dialect (checked on the sqlglot AST first) and
    fetch all rows."""
    parse_statement(sql, read="duckdb")
    return con.execute(sql).fetchall()


def timed_select(con: duckdb.DuckDBPyConnection, sql: str,
                 repeat: int) -> tuple[list[float], list[tuple]]:
    """Run one read-only SELECT (checked like :func:`execute_select`, once, before the clock
    starts: sqlglot's parse of a JOB query, 1.4 ms median, was 14% of its timed run at scale 0.01
    and 22% at 0.002) ``repeat`` times: the milliseconds of each run, fetching included, and the
    rows of the last."""
    parse_statement(sql, read="duckdb")
    times, rows = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        rows = con.execute(sql).fetchall()
        times.append((time.perf_counter() - t) * 1000.0)
    return times, rows


def bind(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Bind one read-only SELECT (checked like :func:`execute_select`) on ``con``'s schema:
    DuckDB resolves its tables, columns, functions and types and raises its error where it
    cannot. Nothing is optimized, run or read (a relation that is never fetched): DuckDB takes
    about 1 ms for a 17-relation JOB query, sqlglot's parse a few more."""
    parse_statement(sql, read="duckdb")
    # A result not fetched to its end (``con.execute(...).fetchone()``) keeps its statement's
    # transaction open; a bind that fails inside it aborts that transaction, and every later
    # bind on ``con`` then fails with "Current transaction is aborted", not its own error. A
    # statement fetched whole closes it.
    con.execute("SELECT 1").fetchall()
    con.sql(sql)


def select_columns(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, np.ndarray]:
    """Run one read-only SELECT (checked like :func:`execute_select`) and fetch its columns as
    numpy arrays (masked arrays where a column has NULLs)."""
    parse_statement(sql, read="duckdb")
    return con.execute(sql).fetchnumpy()


def filter_sql(graph: QueryGraph, i: int) -> str:
    """The conjunction of relation ``i``'s filters (``TRUE`` when it has none)."""
    f = graph.filters[i]
    return " AND ".join(f"({p})" for p in f) if f else "TRUE"


@dataclass
class TableStats:
    """Row counts, distinct counts and filtered counts measured on one database (memoised)."""

    con: duckdb.DuckDBPyConnection
    _rows: dict[str, int] = field(default_factory=dict)
    _distinct: dict[tuple[str, str], int] = field(default_factory=dict)
    _filtered: dict[str, int] = field(default_factory=dict)

    def rows(self, table: str) -> int:
        """Rows in a table."""
        if table not in self._rows:
            self._rows[table] = self.con.execute(f"SELECT count(*) FROM {quote(table)}").fetchone()[0]
        return self._rows[table]

    def distinct(self, table: str, column: str) -> int:
        """Distinct non-NULL values of a column."""
        key = (table, column)
        if key not in self._distinct:
            self._distinct[key] = self.con.execute(
                f"SELECT count(DISTINCT {quote(column)}) FROM {quote(table)}").fetchone()[0]
        return self._distinct[key]

    def filtered(self, graph: QueryGraph, i: int) -> int:
        """Rows of relation ``i`` passing its filters (measured with COUNT(*))."""
        r = graph.relations[i]
        if not graph.filters[i]:
            return self.rows(r.table)
        sql = f"SELECT count(*) FROM {quote(r.table)} AS {quote(r.alias)} WHERE {filter_sql(graph, i)}"
        if sql not in self._filtered:
            self._filtered[sql] = execute_select(self.con, sql)[0][0]
        return self._filtered[sql]
