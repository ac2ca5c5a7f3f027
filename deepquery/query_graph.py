"""SQL -> query graph: relations, equi-join edges (closed under equality classes) and local filters.

Parses SELECT-FROM-WHERE queries as the Join Order Benchmark writes them (comma joins or
``JOIN ... ON``, aliases, self-joins, AND/OR, LIKE, IN, BETWEEN, IS [NOT] NULL, comparisons,
MIN/COUNT aggregates) with sqlglot. Every top-level conjunct of WHERE (and of each ON) is either
an equi-join edge ``a.x = b.y`` between two aliases, a local filter of one alias (one of no
column, ``ON TRUE``, is the first relation's), or a non-equi
predicate over two aliases (kept as a join edge with ``equi=False``). Edges implied by
transitivity (``t.id = mc.movie_id AND t.id = mi.movie_id`` implies ``mc.movie_id =
mi.movie_id``) are added, so the graph is the closure of every equality class; only between
columns of one domain (:class:`Schema`), where DuckDB's ``=`` is an equivalence: under
``a.id VARCHAR COLLATE NOCASE``, ``a.id = b.aid AND a.id = c.aid`` holds for 'A', 'a', 'A' and
``b.aid = c.aid`` does not.

Relation ``i`` of a graph is bit ``1 << i`` in the bitsets (plain ints) the optimizers use.
"""
from __future__ import annotations

import functools
import itertools
import json
import logging
import re
from dataclasses import dataclass, field
from typing import ClassVar, Iterable, Mapping, Sequence

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.dialects.postgres import Postgres
from sqlglot.parser import binary_range_parser
from sqlglot.tokens import TokenType

logger = logging.getLogger(__name__)

_FORBIDDEN = (
    exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter, exp.Command,
    exp.Merge, exp.Into, exp.Copy, exp.Set, exp.Pragma, exp.TruncateTable, exp.Use,
    exp.Transaction, exp.Commit, exp.Rollback, exp.Describe, exp.LoadData,
) + tuple(getattr(exp, name) for name in ("Attach", "Detach", "Export", "Install")
          if hasattr(exp, name))
_READS_FILES = tuple(getattr(exp, name) for name in ("ReadCSV", "ReadParquet") if hasattr(exp, name))
"""Functions that read files, refused anywhere in a query (sqlglot parses the others, e.g.
``read_text``, as unknown functions, refused too); DuckDB's file access is also switched off on
every connection (:func:`deepquery.database.connect`)."""


_BARE_KEYWORD_CATEGORIES = ("unreserved", "column_name")
"""DuckDB keyword categories that may stand bare as a table alias, a column alias and a column's
qualifier (PostgreSQL's grammar, which DuckDB's follows; every keyword of DuckDB 1.4.0 and 1.5.6
tried in those places); the others (reserved: ``select``; type_function: ``at``, ``asof``) may
not."""


_POSTGRES_TYPE_FUNCTION_KEYWORDS = frozenset({
    "authorization", "binary", "collation", "concurrently", "cross", "freeze", "full", "ilike",
    "inner", "is", "isnull", "join", "left", "like", "natural", "notnull", "outer", "overlaps",
    "right", "similar", "tablesample", "verbose"})
"""PostgreSQL's type_func_name keywords (DuckDB's ``type_function`` ones too), which neither
takes bare as a table alias. DuckDB's other ``type_function`` words (``at``, ``asof``, ``by``)
PostgreSQL takes, and JOB writes ``aka_title AS at``: those stay accepted, written quoted."""


@functools.lru_cache(maxsize=4096)
def _refused_bare(name: str) -> bool:
    """Whether the lower-case ``name``, unquoted, is a table alias or qualifier that DuckDB
    refuses and PostgreSQL too (``title AS in``: a reserved word), which sqlglot's reader
    takes: DuckDB's reserved words and the type_func_name ones both have."""
    category = _duckdb_keywords().get(name)
    return category == "reserved" or (category == "type_function"
                                      and name in _POSTGRES_TYPE_FUNCTION_KEYWORDS)


def _columns(node: exp.Expression) -> Iterable[exp.Column]:
    """The column references in ``node``: not a collation's name, which sqlglot reads as a
    column when dotted (``COLLATE NOCASE.NOACCENT``, DuckDB's chain of two)."""
    return (c for c in node.find_all(exp.Column)
            if not (isinstance(c.parent, exp.Collate) and c.arg_key == "expression"))


def _check_bare_names(stmt: exp.Select) -> None:
    """Refuse a query naming a table alias or a column's qualifier with a bare reserved word
    (:func:`_refused_bare`), as DuckDB refuses it, where the planned SQL would quote it."""
    names = [a.this for a in stmt.find_all(exp.TableAlias)]
    names += [c.args["table"] for c in _columns(stmt) if c.args.get("table")]
    words = [i.name for i in names if isinstance(i, exp.Identifier) and not i.quoted]
    # ``false.id``: sqlglot reads TRUE, FALSE and NULL before a dot as the constant
    words += [d.this.sql().lower() for d in stmt.find_all(exp.Dot)
              if isinstance(d.this, (exp.Boolean, exp.Null))]
    for word in words:
        if _refused_bare(word.lower()):
            raise QueryError(f"{word} is a reserved word: write it quoted (\"{word}\") to use "
                             "it as an alias")


@functools.lru_cache(maxsize=1)
def _duckdb_keywords() -> dict[str, str]:
    """The installed DuckDB's keywords (lower case) and their categories, from its
    ``duckdb_keywords()``."""
    con = duckdb.connect()
    try:
        rows = con.execute("SELECT keyword_name, keyword_category FROM duckdb_keywords()").fetchall()
    finally:
        con.close()
    return {k.lower(): category for k, category in rows}


_BARE_PROBES = ("SELECT {0}.x AS {0} FROM t AS {0} WHERE ({0}.x > 0)",
                "SELECT count(*) FROM t AS {0}, u AS v WHERE ({0}.x = v.y) AND {0}.x > 0",
                "SELECT MIN({0}.x) FROM t AS v JOIN (t AS {0} JOIN u AS w ON {0}.x = w.y) ON v.y = {0}.x")
"""The places deepquery writes a name (``{0}``): a relation's alias, its qualifier in select
lists, ON and WHERE (also inside parentheses), an output alias."""


def _sqlglot_reads_bare(name: str) -> bool:
    """Whether sqlglot's DuckDB reader takes ``name`` bare in every :data:`_BARE_PROBES` place
    (it does not for a few keywords DuckDB itself takes: ``force``, ``insert``, ``values``), as
    deepquery's own SQL is read back by it (:func:`parse_statement`) before DuckDB runs it."""
    for probe in _BARE_PROBES:
        try:
            stmt = sqlglot.parse_one(probe.format(name), read="duckdb")
        except sqlglot.errors.SqlglotError:
            return False
        if [i.name for i in stmt.find_all(exp.Identifier)].count(name) != probe.count("{0}"):
            return False
    return True


@functools.lru_cache(maxsize=4096)
def _must_quote(name: str) -> bool:
    """Whether the lower-case ``name`` is a DuckDB keyword that cannot stand bare, in DuckDB
    (:data:`_BARE_KEYWORD_CATEGORIES`) or in sqlglot's reader. sqlglot's writer alone does not
    know: before sqlglot 30 it writes ``at`` bare, which every DuckDB refuses (``aka_title AS
    at``, JOB 15a: 'syntax error at or near "at"'), and ``force`` bare even now."""
    category = _duckdb_keywords().get(name)
    if category is None:
        return False
    return category not in _BARE_KEYWORD_CATEGORIES or not _sqlglot_reads_bare(name)


def quote_keywords(node: exp.Expression) -> exp.Expression:
    """``node`` with every identifier that is a DuckDB keyword which cannot stand bare
    (:func:`_must_quote`) marked quoted, in place."""
    for ident in node.find_all(exp.Identifier):
        if not ident.quoted and _must_quote(ident.name.lower()):
            ident.set("quoted", True)
    return node


def duckdb_sql(node: exp.Expression, **opts) -> str:
    """``node`` in DuckDB's dialect with keyword names quoted (:func:`quote_keywords` on a copy),
    whatever sqlglot version writes it."""
    return quote_keywords(node.copy()).sql(dialect="duckdb", **opts)


@functools.lru_cache(maxsize=4096)
def quote(name: str) -> str:
    """An identifier as DuckDB needs it (quoted when it is a keyword, e.g. ``at``, or not a plain
    name); memoised, as sub-query texts (true cardinalities' cache keys) ask for the same few
    names many times."""
    return quote_keywords(exp.to_identifier(name)).sql(dialect="duckdb")


_CLAUSES = frozenset({"expressions", "distinct", "from", "from_", "joins", "where", "group",
                      "having", "windows", "qualify", "order", "limit", "offset"})
"""SELECT clauses a query may have. The planned SQL keeps all but FROM and WHERE as written;
anything else (USING SAMPLE, INTO, locks, ...) is refused rather than dropped."""
_TABLE_PARTS = frozenset({"this", "db", "catalog", "alias"})
"""Parts of a FROM item kept by the planned SQL (TABLESAMPLE, hints, ... are refused)."""


class Schema(dict):
    """Table -> its column names (lower case), as :func:`parse_query` takes it, with how each
    column compares: ``domains[(table, column)]`` (:func:`deepquery.database.column_domains`).
    Equality is transitive only within one domain, so an implied edge links two columns of one
    domain alone; a plain mapping (no domains) has every class transitive. ``main_tables``:
    the tables that ``main.name`` names too (None: all), those a connection reads from a
    schema ``main``; under ``SET schema = 'o'`` an ``a`` of ``o`` is ``o.a``, ``main.a``
    another table, which the SQL deepquery writes (``a``) would not read."""

    def __init__(self, columns: Mapping[str, Sequence[str]] | None = None,
                 domains: Mapping[tuple[str, str], str] | None = None,
                 main_tables: Iterable[str] | None = None) -> None:
        super().__init__(columns or {})
        self.domains: dict[tuple[str, str], str] = dict(domains or {})
        self.main_tables = None if main_tables is None else frozenset(main_tables)


class QueryError(ValueError):
    """A query that cannot be turned into a graph; the message is one line for the user."""


@dataclass(frozen=True)
class Relation:
    """One FROM item: an alias bound to a base table."""

    alias: str
    table: str
    columns: tuple[str, ...] = field(default=(), compare=False)
    """The table's columns in the database's order (lower case; empty when parsed without a
    schema): what a ``*`` with EXCLUDE, REPLACE or RENAME is spelled out over."""


@dataclass(frozen=True)
class JoinEdge:
    """A join predicate between two relations (by index); equi edges carry their columns."""

    left: int
    right: int
    left_column: str
    right_column: str
    sql: str
    equi: bool = True
    implied: bool = False
    transitive: bool = True
    """For an equi edge: whether its two columns are of one domain (:class:`Schema`), so it
    joins their equality class; an edge between two domains (a collated VARCHAR and a plain one,
    INTEGER and VARCHAR) is a class of its own and implies no other edge."""


@dataclass(frozen=True)
class QueryGraph:
    """A parsed query: relations (index = bit), join edges, per-relation filter SQL."""

    relations: tuple[Relation, ...]
    edges: tuple[JoinEdge, ...]
    filters: tuple[tuple[str, ...], ...]
    select_sql: str
    sql: str
    name: str = "query"
    adjacency: tuple[int, ...] = field(default=(), compare=False)
    cache: dict = field(default_factory=dict, compare=False, repr=False)
    """Per-graph memo for derived data (index neighbours, ...)."""

    def __post_init__(self) -> None:
        if not self.relations:
            raise QueryError("query has no relations")
        if len(self.filters) != len(self.relations):
            raise ValueError("filters must have one entry per relation")
        adj = [0] * len(self.relations)
        for e in self.edges:
            adj[e.left] |= 1 << e.right
            adj[e.right] |= 1 << e.left
        object.__setattr__(self, "adjacency", tuple(adj))

    # --- sizes and names ---------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of relations."""
        return len(self.relations)

    @property
    def full_mask(self) -> int:
        """Bitset with every relation."""
        return (1 << self.n) - 1

    @property
    def aliases(self) -> tuple[str, ...]:
        """Relation aliases in index order."""
        return tuple(r.alias for r in self.relations)

    def index(self, alias: str) -> int:
        """Index of a relation by alias."""
        for i, r in enumerate(self.relations):
            if r.alias == alias:
                return i
        raise KeyError(alias)

    def mask_aliases(self, mask: int) -> list[str]:
        """Aliases of the relations in a bitset."""
        return [r.alias for i, r in enumerate(self.relations) if mask >> i & 1]

    # --- connectivity ----------------------------------------------------------------
    def neighbors(self, mask: int) -> int:
        """Relations adjacent to any relation of ``mask``, excluding ``mask`` itself."""
        out = 0
        m = mask
        while m:
            low = m & -m
            out |= self.adjacency[low.bit_length() - 1]
            m ^= low
        return out & ~mask

    def is_connected(self, mask: int) -> bool:
        """Whether the relations of ``mask`` form a connected subgraph."""
        if mask == 0:
            return False
        seen = mask & -mask
        while True:
            grown = seen | (self.neighbors(seen) & mask)
            if grown == seen:
                return seen == mask
            seen = grown

    def components(self, mask: int | None = None) -> list[int]:
        """Connected components of the subgraph on ``mask`` (default: every relation) as
        bitsets, lowest relation first."""
        left, comps = self.full_mask if mask is None else mask, []
        while left:
            seen = left & -left
            while True:
                grown = seen | (self.neighbors(seen) & left)
                if grown == seen:
                    break
                seen = grown
            comps.append(seen)
            left &= ~seen
        return comps

    def edges_between(self, a: int, b: int) -> list[JoinEdge]:
        """Join edges with one end in bitset ``a`` and the other in ``b``."""
        return [
            e for e in self.edges
            if (a >> e.left & 1 and b >> e.right & 1) or (a >> e.right & 1 and b >> e.left & 1)
        ]

    def with_cross_edges(self) -> "QueryGraph":
        """This graph if connected; else a copy whose components are linked by cross-product
        edges (``equi=False``, SQL ``TRUE``) between every pair of relations in different ones."""
        got = self.cache.get("with_cross_edges")
        if got is not None:  # built (and warned about) once per graph
            return got
        comps = self.components()
        if len(comps) == 1:
            self.cache["with_cross_edges"] = self
            return self
        logger.warning("query %s is disconnected (%d components): adding cross products",
                       self.name, len(comps))
        comp_of = {i: c for c, m in enumerate(comps) for i in range(self.n) if m >> i & 1}
        extra = tuple(
            JoinEdge(i, j, "", "", "TRUE", equi=False)
            for i, j in itertools.combinations(range(self.n), 2) if comp_of[i] != comp_of[j]
        )
        got = self.cache["with_cross_edges"] = QueryGraph(
            self.relations, self.edges + extra, self.filters, self.select_sql, self.sql, self.name)
        return got

    def to_json(self) -> dict:
        """A plain-data view (used by golden fixtures and ``--json``)."""
        return {
            "name": self.name,
            "relations": {r.alias: r.table for r in self.relations},
            "edges": sorted(
                sorted([f"{self.relations[e.left].alias}.{e.left_column}",
                        f"{self.relations[e.right].alias}.{e.right_column}"])
                if e.equi else [e.sql] for e in self.edges
            ),
            "filters": {r.alias: list(f) for r, f in zip(self.relations, self.filters) if f},
        }


# --- parsing ---------------------------------------------------------------------------------
def _conjuncts(node: exp.Expression | None) -> list[exp.Expression]:
    """The top-level conjuncts of ``node``, in order; without recursion, as a WHERE of
    thousands of ANDs (one level each) passed Python's recursion limit."""
    out: list[exp.Expression] = []
    stack = [] if node is None else [node]
    while stack:
        node = stack.pop()
        node = node.unnest() if isinstance(node, exp.Paren) else node
        if isinstance(node, exp.And):
            stack += [node.right, node.left]
        else:
            out.append(node)
    return out


_TOKEN_REPR = re.compile(r"<Token token_type: TokenType\.(\w+), text: (.*?), line: \d+, "
                         r"col: \d+, start: \d+, end: \d+, comments: .*?>")
"""sqlglot's repr of a token inside its error descriptions; the user wants the token's text."""


def _token_text(m: re.Match) -> str:
    return "the end of the query" if m.group(1) == "SENTINEL" else f"'{m.group(2)}'"


def _position(err: sqlglot.errors.ParseError) -> str:
    """Where a parse failed, the text around it and, when sqlglot's words mean something to a
    user, what was wrong, e.g. ``at line 1, column 51 near 'WHERE t.title = ;' (incomplete
    expression)``."""
    errs = getattr(err, "errors", None) or []
    if not errs:
        return str(err).splitlines()[0]
    e = errs[0]
    near = " ".join((str(e.get("start_context") or "")[-30:] + str(e.get("highlight") or "")
                     + str(e.get("end_context") or "")[:15]).split())
    desc = str(e.get("description") or "").splitlines()[0] if e.get("description") else ""
    if desc.startswith("Required keyword"):  # names sqlglot's AST classes: say what it means
        desc = "incomplete expression"
    elif "Unexpected token" in desc:
        desc = "unexpected token"
    else:  # "Expected table name but got <Token token_type: TokenType.WHERE, text: WHERE, ...>"
        desc = _TOKEN_REPR.sub(_token_text, desc)
    return (f"at line {e.get('line')}, column {e.get('col')} near '{near}'"
            + (f" ({desc})" if desc else ""))


def _statement_kind(stmt: exp.Expression, sql: str) -> str:
    """What a statement that is not a SELECT is, in the user's words: sqlglot parses what it does
    not know (EXPLAIN, SHOW, CALL, LOAD) as a ``Command`` and a lone word (CHECKPOINT, INSTALL
    x) as a column or alias; its own names for those mean nothing to a user."""
    if isinstance(stmt, exp.Command) and isinstance(stmt.this, str):
        return stmt.this.upper()
    if isinstance(stmt, (exp.Column, exp.Alias, exp.Identifier)):
        return sqlglot.tokenize(sql)[0].text.upper()
    return stmt.key.upper()


CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
"""Control characters DuckDB's parser takes nowhere outside a string; it reads a query only up to
a NUL, so one inside a string cut the planned SQL short ('unterminated quoted identifier', exit
1). Refused everywhere, for one rule a user can read; tab, line breaks and form feed are white
space."""


def _check_characters(sql: str) -> None:
    m = CONTROL_CHARACTER.search(sql)
    if m is None:
        return
    line = sql.count("\n", 0, m.start()) + 1
    column = m.start() - (sql.rfind("\n", 0, m.start()) + 1) + 1
    code = ord(m.group())
    if code == 0:
        raise QueryError(f"line {line}, column {column}: NUL character in the query (DuckDB reads "
                         "a query only up to one)")
    raise QueryError(f"line {line}, column {column}: control character U+{code:04X} in the query "
                     f"(for one in a string, write chr({code}))")


_DUCKDB_FUNCTIONS = ("DATEDIFF", "DATE_DIFF", "GENERATE_SERIES", "REGEXP_EXTRACT",
                     "REGEXP_EXTRACT_ALL", "SHA256", "XOR")
"""Functions PostgreSQL's reader builds with another meaning than DuckDB's (``generate_series``
in a SELECT list as rows, ``sha256`` as bytes, ``regexp_extract``'s group dropped, ``xor`` as
a logical one) or as SQL DuckDB cannot run (``date_diff``'s arguments swapped and cast):
read as DuckDB reads them (``decode`` and ``encode``: :func:`_one_argument`). And one
PostgreSQL's reader does not know, refused as unknown where DuckDB runs it:
``regexp_matches(s, pattern[, options])``, a search (``~`` is a full match); with other
arguments, as written (sqlglot's reader drops a fourth one, and a third one's meaning)."""

_DUCKDB_ONLY_FUNCTIONS = frozenset({"date_sub", "datesub", "date_part", "datepart", "decode",
                                    "encode", "regexp_matches"})
"""DuckDB scalar functions sqlglot has no meaning for, accepted as calls that the planned SQL
writes as the user wrote them (every other unknown function is refused): ``date_sub(part,
start, end)`` (PostgreSQL's reader took it for MySQL's ``DATE_SUB(date, INTERVAL)`` and wrote
SQL DuckDB cannot parse) and ``date_part`` with a part that is not a string literal, a list of
parts (``date_part(['year', 'month'], d)``, a struct) or a column (PostgreSQL's reader took
the column's name for a part), and ``decode`` or ``encode`` with other than one argument
(sqlglot drops a second one: decode's error mode, ``decode(b, 'ignore')``, and read
``decode(a, b, c)`` as Oracle's CASE; DuckDB runs the first and refuses the others)."""


def _one_argument(node: type[exp.Func], name: str):
    """A builder of DuckDB's ``name(x)`` as ``node``; with other than one argument, the call as
    written (:data:`_DUCKDB_ONLY_FUNCTIONS`), which DuckDB runs or refuses."""
    def build(args: list) -> exp.Expression:
        if len(args) == 1:
            return node(this=args[0], charset=exp.Literal.string("utf-8"))
        return exp.Anonymous(this=name, expressions=args)
    return build


class UserSQL(Postgres):
    """The dialect users' queries are read in: PostgreSQL's grammar (JOB's queries are written
    in it, and DuckDB's grammar follows it) with DuckDB's meaning wherever one text means two
    things, as the query runs on DuckDB: ``ORDER BY x DESC`` puts NULLs last (PostgreSQL's
    NULLS FIRST made the planned SQL keep other rows under LIMIT), ``a ~ 'b'`` is a full match
    (``regexp_full_match``, not PostgreSQL's search), ``FLOAT`` is a 4-byte REAL, the
    functions of :data:`_DUCKDB_FUNCTIONS` are DuckDB's, and ``ORDER BY ALL`` orders by every
    output column (PostgreSQL has no such clause: it was read as a column ``all``); DuckDB's
    operators ``//`` (integer division) and ``**`` (power, as ``^``) are read, which
    PostgreSQL has not; ``FLOAT(p)`` is REAL up to 24 bits, DOUBLE above."""

    NULL_ORDERING = DuckDB.NULL_ORDERING

    class Tokenizer(Postgres.Tokenizer):
        KEYWORDS: ClassVar[dict] = {**Postgres.Tokenizer.KEYWORDS, "FLOAT": TokenType.FLOAT,
                                    "//": TokenType.DIV, "**": TokenType.DSTAR}

    class Parser(Postgres.Parser):
        FUNCTIONS: ClassVar[dict] = {
            **Postgres.Parser.FUNCTIONS,
            **{name: DuckDB.Parser.FUNCTIONS[name] for name in _DUCKDB_FUNCTIONS},
            "DATE_SUB": lambda args: exp.Anonymous(this="date_sub", expressions=args),
            "DECODE": _one_argument(exp.Decode, "decode"),
            "ENCODE": _one_argument(exp.Encode, "encode"),
            "REGEXP_MATCHES": lambda args: (
                DuckDB.Parser.FUNCTIONS["REGEXP_MATCHES"](args) if len(args) in (2, 3)
                else exp.Anonymous(this="regexp_matches", expressions=args))}
        FUNCTION_PARSERS: ClassVar[dict] = {
            k: v for k, v in Postgres.Parser.FUNCTION_PARSERS.items() if k != "DECODE"}
        EXPONENT: ClassVar[dict] = {**Postgres.Parser.EXPONENT, TokenType.DSTAR: exp.Pow}
        RANGE_PARSERS: ClassVar[dict] = {
            **Postgres.Parser.RANGE_PARSERS,
            TokenType.RLIKE: binary_range_parser(exp.RegexpFullMatch)}

        def _parse_date_part(self):
            # a string literal part is EXTRACT's; any other (a list, a column) is DuckDB's own
            # date_part call, which EXTRACT cannot write
            part = self._parse_type()
            self._match(TokenType.COMMA)
            value = self._parse_bitwise()
            if isinstance(part, exp.Literal) and part.is_string:
                return self.expression(exp.Extract(this=exp.var(part.name.upper()),
                                                   expression=value))
            return self.expression(exp.Anonymous(this="date_part", expressions=[part, value]))

        def _parse_types(self, *args, **kwargs):
            # FLOAT(p), as DuckDB reads it: REAL up to 24 bits, DOUBLE from 25 to 53 (sqlglot
            # wrote REAL(p), which DuckDB cannot parse)
            this = super()._parse_types(*args, **kwargs)
            if not isinstance(this, exp.DataType):
                return this
            for node in list(this.find_all(exp.DataType)):  # FLOAT(3)[] too
                if node.this != exp.DataType.Type.FLOAT or not node.expressions:
                    continue
                params = node.expressions
                bits = params[0].this if isinstance(params[0], exp.DataTypeParam) else params[0]
                if (len(params) != 1 or not isinstance(bits, exp.Literal) or bits.is_string
                        or not bits.name.isdigit() or not 1 <= int(bits.name) <= 53):
                    raise QueryError(f"{node.sql()}: DuckDB takes FLOAT(p) of a precision p "
                                     "from 1 to 53 bits")
                new = exp.DataType.build("REAL" if int(bits.name) <= 24 else "DOUBLE")
                if node is this:
                    return new
                node.replace(new)
            return this

        def _parse_ordered(self, parse_method=None):
            # ``ORDER BY ALL``: every output column, as DuckDB's reader has it; ALL is a
            # reserved word, so a column named so is written quoted (``"all"``) and stays one
            ordered = super()._parse_ordered(parse_method)
            this = ordered.this if ordered is not None else None
            if (isinstance(this, exp.Column) and not this.table and not this.this.quoted
                    and this.name.upper() == "ALL"):
                ordered.set("this", exp.var("ALL"))
            return ordered


_TOO_DEEP = ("the query nests too deeply for deepquery's SQL reader (sqlglot reads each "
             "parenthesis or operand by a recursive call): flatten its parentheses")


def parse_statement(sql: str, read: str | type[Dialect] = UserSQL) -> exp.Select:
    """Parse exactly one read-only SELECT; raise :class:`QueryError` otherwise. ``read``: the
    SQL dialect, :class:`UserSQL` for users' queries (JOB's), DuckDB's for the SQL deepquery
    generates (sqlglot writes some functions, e.g. ``string_agg`` as ``LISTAGG``, in DuckDB's
    own spelling, which PostgreSQL's reader takes for unknown functions)."""
    if not sql.strip() or not sql.strip().strip(";").strip():
        raise QueryError("empty query")
    _check_characters(sql)
    try:
        stmts = [s for s in sqlglot.parse(sql, read=read) if s is not None]
    except RecursionError:
        raise QueryError(_TOO_DEEP) from None
    except sqlglot.errors.ParseError as e:
        raise QueryError(f"SQL syntax error {_position(e)}") from None
    except sqlglot.errors.TokenError as e:
        raise QueryError(f"SQL syntax error: {str(e).splitlines()[0]}") from None
    if not stmts:
        raise QueryError("empty query")
    if len(stmts) > 1:
        raise QueryError(f"expected one statement, found {len(stmts)}")
    stmt = stmts[0]
    if not isinstance(stmt, exp.Select):
        raise QueryError(f"only a read-only SELECT is accepted, found {_statement_kind(stmt, sql)}")
    for node in stmt.walk():
        if isinstance(node, _FORBIDDEN):
            raise QueryError(f"only a read-only SELECT is accepted, found {node.key.upper()}")
        if _READS_FILES and isinstance(node, _READS_FILES):
            raise QueryError(f"functions that read files are not accepted: {node.sql()}")
        if (isinstance(node, exp.Anonymous)
                and str(node.this).lower() not in _DUCKDB_ONLY_FUNCTIONS) or (
            isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier)
        ):
            raise QueryError(f"table functions and unknown functions are not accepted: {node.sql()}")
    return stmt


def parse_query(
    sql: str, schema: Mapping[str, Sequence[str]] | None = None, name: str = "query"
) -> QueryGraph:
    """Build the :class:`QueryGraph` of one SELECT; ``schema`` (table -> columns) validates names,
    and a :class:`Schema`'s domains say which equalities are transitive (without them, all)."""
    try:
        return _parse_query(sql, schema, name)
    except RecursionError:  # sqlglot walks and writes expressions recursively too
        raise QueryError(_TOO_DEEP) from None


def _parse_query(sql: str, schema: Mapping[str, Sequence[str]] | None, name: str) -> QueryGraph:
    stmt = parse_statement(sql)
    if stmt.args.get("with") or stmt.args.get("with_"):
        raise QueryError("WITH clauses are not supported")
    extra = sorted(k for k, v in stmt.args.items() if v and k not in _CLAUSES)
    if extra:
        raise QueryError(f"{extra[0].rstrip('_').upper()} in a query is not supported")
    literal = stmt.find(exp.BitString, exp.HexString)
    if literal is not None:  # PostgreSQL's bit and hex strings; DuckDB reads b'101' as 'b101'
        raise QueryError(f"bit and hex string literals are not supported: {literal.sql()} (DuckDB "
                         "reads b'101' as the text 'b101'); write '101'::BIT or unhex('41')")
    fetch = stmt.args.get("limit")
    if isinstance(fetch, exp.Fetch):  # sqlglot writes FETCH ... WITH TIES or PERCENT as LIMIT n
        options = fetch.args.get("limit_options") or fetch
        if options.args.get("with_ties"):
            raise QueryError("FETCH ... WITH TIES is not supported (DuckDB has none; LIMIT would "
                             "drop the tied rows)")
        if options.args.get("percent"):
            raise QueryError("FETCH ... PERCENT is not supported; write LIMIT n PERCENT")
    if any(node is not stmt for node in stmt.find_all(exp.Select)):
        raise QueryError("subqueries are not supported: write one SELECT-FROM-WHERE with joins")
    from_ = stmt.args.get("from") or stmt.args.get("from_")
    if from_ is None:
        raise QueryError("query has no FROM clause")
    nested = from_.this.args.get("joins") if isinstance(from_.this, exp.Table) else None
    if nested:  # FROM-first (``FROM a JOIN b ON ...``, no SELECT): sqlglot hangs the joins
        # on the first table, where they are the statement's
        stmt.set("joins", list(nested) + list(stmt.args.get("joins") or []))
        from_.this.set("joins", None)
    _check_bare_names(stmt)
    items = [from_.this] + [j.this for j in stmt.args.get("joins") or []]
    conds: list[exp.Expression] = []
    on_scope: list[tuple[int, exp.Expression]] = []  # (the join's FROM item, its ON conjunct)
    for k, j in enumerate(stmt.args.get("joins") or [], start=1):
        if j.args.get("using"):
            raise QueryError("JOIN ... USING is not supported; write JOIN ... ON")
        side = (j.args.get("side") or "").upper()
        kind = (j.args.get("kind") or "").upper()
        method = (j.args.get("method") or "").upper()
        if side in ("LEFT", "RIGHT", "FULL") and kind in ("", "OUTER"):
            raise QueryError(f"{side} OUTER JOIN is not supported (inner joins only)")
        if side or method or kind not in ("", "INNER", "CROSS"):
            # NATURAL, SEMI, ANTI, ASOF: planned as an inner join they would change the result
            words = " ".join(w for w in (method, side, kind) if w)
            raise QueryError(f"{words} JOIN is not supported (inner joins only)")
        on = _conjuncts(j.args.get("on"))
        conds += on
        on_scope += [(k, c) for c in on]
    relations: list[Relation] = []
    for it in items:
        if not isinstance(it, exp.Table):
            raise QueryError(f"only base tables are supported in FROM, found: {it.sql()}")
        extra = sorted(k for k, v in it.args.items() if v and k not in _TABLE_PARTS)
        if extra:
            raise QueryError(f"{extra[0].rstrip('_').upper()} on a table is not supported: "
                             f"{it.sql()}")
        table_alias = it.args.get("alias")
        if table_alias is not None and table_alias.args.get("columns"):
            # they rename the table's columns; the planned SQL, which names them as the table
            # does, would drop them
            raise QueryError(f"column aliases on a table are not supported: {it.sql()}")
        table = it.name.lower()
        alias = (it.alias or it.name).lower()
        if it.catalog or (it.db and it.db.lower() != "main"):
            raise QueryError(f"only tables of the database's main schema are accepted: {it.sql()}")
        main_tables = getattr(schema, "main_tables", None)
        if it.db and main_tables is not None and table in schema and table not in main_tables:
            raise QueryError(f"{it.sql()}: the connection reads {table} from another schema than "
                             f"main (its search path); write {table}")
        if schema is not None and table not in schema:
            raise QueryError(f"unknown table: {table}")
        if any(r.alias == alias for r in relations):
            raise QueryError(f"duplicate alias: {alias}")
        relations.append(Relation(alias, table,
                                  tuple(c.lower() for c in schema[table]) if schema else ()))
    index = {r.alias: i for i, r in enumerate(relations)}
    unaliased = {it.name.lower() for it in items if not it.alias}
    if schema is not None:
        _expand_where_aliases(stmt, relations, schema)

    def resolve(col: exp.Column) -> int:
        q = col.table.lower()
        cname = col.name.lower()
        if q:
            if q not in index:
                raise QueryError(f"unknown table or alias: {q} (in {col.sql()})")
            i = index[q]
        else:
            owners = [i for i, r in enumerate(relations)
                      if schema is not None and cname in schema[r.table]]
            if (not owners and schema is not None and cname in outputs
                    and isinstance(col.find_ancestor(exp.Where, exp.Join), exp.Where)):
                # DuckDB reads it as the SELECT list's expression (in WHERE, not ON); the graph
                # would need it written out to place the predicate
                raise QueryError(f"the SELECT alias {cname} in WHERE is not supported; write "
                                 "its expression")
            if len(relations) == 1:
                owners = [0]
            if len(owners) != 1:
                raise QueryError(f"column {cname} is {'ambiguous' if owners else 'unknown'}; "
                                 "qualify it with an alias")
            i = owners[0]
        if schema is not None and cname not in schema[relations[i].table]:
            raise QueryError(f"unknown column: {relations[i].alias}.{cname} "
                             f"(table {relations[i].table})")
        return i

    # Validate every column anywhere in the statement (SELECT list included), binding names as
    # DuckDB does: an ORDER BY term that is just a name means the SELECT-list alias of that
    # name first (``SELECT t.title AS id ... ORDER BY id``, even with t.id and mc.id in scope);
    # elsewhere outside WHERE and ON (GROUP BY, HAVING, WINDOW, QUALIFY, inside an ORDER BY
    # expression) a name means a table's column first and the alias only when no table has one.
    outputs = {e.alias.lower() for e in stmt.expressions if isinstance(e, exp.Alias)}
    order = stmt.args.get("order")
    alias_first = {id(o.this) for o in (order.expressions if order else [])
                   if isinstance(o, exp.Ordered) and isinstance(o.this, exp.Column)}
    for star in stmt.find_all(exp.Star):
        _check_star_modifiers(star, relations, schema is not None)
    for columns in stmt.find_all(exp.Columns):
        inner = columns.this
        if not (isinstance(inner, exp.Column) and isinstance(inner.this, exp.Star)):
            # COLUMNS('regex'), COLUMNS(lambda), COLUMNS([names]) list the matching columns of
            # every relation in FROM order, which the planned SQL changes; alias.* is one's
            raise QueryError(f"COLUMNS(...) over every relation is not supported: "
                             f"{columns.sql(dialect='duckdb')}; name the columns or use "
                             "COLUMNS(alias.*)")
    for col in _columns(stmt):
        if col.args.get("db") or col.args.get("catalog"):
            _check_schema_qualifier(col, unaliased, schema)
        if isinstance(col.this, exp.Star) or _star_modifier_name(col):
            continue
        if not col.table and col.name.lower() in outputs and (
                id(col) in alias_first
                or (col.find_ancestor(exp.Where, exp.Join, exp.Select) is stmt
                    and not any(col.name.lower() in schema.get(r.table, ())
                                for r in relations if schema is not None))):
            continue
        resolve(col)

    strip_schema_qualifiers(stmt)

    # An ON sees the relations joined so far only (DuckDB: 'Referenced table "cn" not found');
    # the planned SQL, which puts each predicate where its relations meet, would run it.
    for k, c in on_scope:
        for col in _columns(c):
            i = resolve(col)
            if i > k:
                raise QueryError(f"JOIN ... ON {c.sql(dialect='duckdb')} refers to "
                                 f"{relations[i].alias}, which is joined only after it")

    where = stmt.args.get("where")
    conds += _conjuncts(where.this if where is not None else None)
    filters: list[list[str]] = [[] for _ in relations]
    equi: list[tuple[int, str, int, str, str]] = []
    theta: list[JoinEdge] = []
    for c in conds:
        cols = list(_columns(c))
        rels = sorted({resolve(col) for col in cols})
        if (isinstance(c, exp.EQ) and isinstance(c.left, exp.Column)
                and isinstance(c.right, exp.Column) and len(rels) == 2):
            li, ri = resolve(c.left), resolve(c.right)
            equi.append((li, c.left.name.lower(), ri, c.right.name.lower(), c.sql()))
        elif len(rels) == 1:
            filters[rels[0]].append(duckdb_sql(c))
        elif len(rels) == 2:
            # an OR keeps its parentheses: the edge is ANDed with others in ON and COUNT(*)
            theta.append(JoinEdge(rels[0], rels[1], "", "",
                                  duckdb_sql(exp.paren(c) if isinstance(c, exp.Or) else c),
                                  equi=False))
        elif not rels and c.find(exp.Dot, exp.Identifier, exp.Star) is None:
            # ``JOIN ... ON TRUE`` (a cross product), ``WHERE 1 = 1``, ``WHERE FALSE``: the same
            # for every row, so a filter of any one relation keeps the query's rows
            filters[0].append(duckdb_sql(c))
        elif not rels:  # a name sqlglot read as no column (``false.x`` for a table aliased false)
            raise QueryError(f"predicate not supported: {c.sql()}")
        else:
            raise QueryError(f"predicate over more than two relations not supported: {c.sql()}")

    domains = getattr(schema, "domains", None)

    def one_domain(li: int, lc: str, ri: int, rc: str) -> bool:
        if not domains:
            return True
        d = domains.get((relations[li].table, lc))
        return d is not None and d == domains.get((relations[ri].table, rc))

    same = [q for q in equi if one_domain(*q[:4])]
    classes = _classes(((li, lc), (ri, rc)) for li, lc, ri, rc, _ in same)
    edges = _close_equalities(same, classes, relations) + _cross_domain_edges(
        [q for q in equi if not one_domain(*q[:4])], relations) + theta
    for i, pred in _same_relation_equalities(classes, relations):
        if pred not in filters[i]:
            filters[i].append(pred)
    select_sql = ", ".join(duckdb_sql(e) for e in stmt.expressions)
    return QueryGraph(tuple(relations), tuple(edges), tuple(tuple(f) for f in filters),
                      select_sql, sql, name)


def _expand_where_aliases(stmt: exp.Select, relations: list[Relation],
                          schema: Mapping[str, Sequence[str]]) -> None:
    """WHERE with each SELECT alias it names written as the alias's expression, in place, as
    DuckDB binds it: a bare name no relation has as a column, nor as an alias (DuckDB's whole
    row), that the SELECT list gives as an alias (``SELECT t.production_year AS y ... WHERE y >
    2000``); inside that expression, an alias given before it is one too (``SELECT t.id AS y,
    y + 1 AS z ... WHERE z > 5``). The planned SQL places the predicate by its columns. Refused
    as DuckDB refuses them: an aggregate or a window function, a function with side effects
    (``random()``); and a name the SELECT list gives twice."""
    where = stmt.args.get("where")
    if where is None:
        return
    items = stmt.expressions
    given: dict[str, list[int]] = {}
    for k, e in enumerate(items):
        if isinstance(e, exp.Alias):
            given.setdefault(e.alias.lower(), []).append(k)
    if not given:
        return
    taken = {c for r in relations for c in schema[r.table]} | {r.alias for r in relations}

    def expand(node: exp.Expression, before: int) -> None:
        for col in list(_columns(node)):
            name = col.name.lower()
            if (col.table or isinstance(col.this, exp.Star) or name in taken
                    or not any(k < before for k in given.get(name, ()))):
                continue  # a column, or a name resolve() refuses
            if len(given[name]) > 1:
                raise QueryError(f"the SELECT alias {col.name} in WHERE names "
                                 f"{len(given[name])} expressions; give them different names")
            k = given[name][0]
            holder = exp.Paren(this=items[k].this.copy())
            expand(holder, k)
            inner = holder.this
            text = duckdb_sql(inner)
            if inner.find(exp.AggFunc, exp.Window) is not None:
                raise QueryError(f"the SELECT alias {col.name} in WHERE is {text}: WHERE cannot "
                                 "hold aggregates or window functions (DuckDB refuses it too)")
            volatile = _side_effect_call(text)
            if volatile:
                raise QueryError(f"the SELECT alias {col.name} in WHERE calls {volatile}(), "
                                 "which has side effects: DuckDB refuses it; write its expression")
            col.replace(inner if isinstance(inner, (exp.Column, exp.Literal)) else holder)

    holder = exp.Paren(this=where.this)
    where.set("this", holder)
    expand(holder, len(items))
    where.set("this", holder.this)


def _side_effect_call(sql: str) -> str | None:
    """The first function DuckDB calls volatile (``random``, ``uuid``, ``nextval``, ...) that
    the DuckDB-dialect ``sql`` calls, or None."""
    tokens = sqlglot.tokenize(sql, read="duckdb")
    volatile = _duckdb_volatile_functions()
    for tok, nxt in itertools.pairwise(tokens):
        if (nxt.token_type == TokenType.L_PAREN and tok.token_type != TokenType.STRING
                and tok.text.lower() in volatile):
            return tok.text.lower()
    return None


@functools.lru_cache(maxsize=1)
def _duckdb_volatile_functions() -> frozenset[str]:
    """The installed DuckDB's functions with side effects (``stability = 'VOLATILE'``)."""
    con = duckdb.connect()
    try:
        rows = con.execute("SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
                           "WHERE stability = 'VOLATILE'").fetchall()
    finally:
        con.close()
    return frozenset(name for name, in rows)


def _check_schema_qualifier(col: exp.Column, unaliased: set[str],
                            schema: Mapping[str, Sequence[str]] | None) -> None:
    """Refuse ``main.title.id`` unless DuckDB takes it: ``main`` naming a table of FROM that has
    no alias (``FROM title``, not ``title AS title``). The planned SQL, which gives every
    relation an alias, drops the schema (:func:`strip_schema_qualifiers`)."""
    text = col.sql(dialect="duckdb")
    if col.args.get("catalog"):
        raise QueryError(f"a column qualified with a database is not supported: {text}; "
                         f"write {col.table}.{col.name or '*'}")
    if isinstance(col.this, exp.Star):
        raise QueryError(f"{text}: DuckDB takes no schema before alias.*; write {col.table}.*")
    main_tables = getattr(schema, "main_tables", None)
    table = col.table.lower()
    if (col.args["db"].name.lower() != "main" or table not in unaliased
            or (main_tables is not None and table not in main_tables)):
        raise QueryError(f"unknown table or alias: {col.args['db'].name}.{col.table} (in {text})")


def strip_schema_qualifiers(node: exp.Expression) -> exp.Expression:
    """``node`` with ``main.title.id`` written ``title.id``, in place: the planned SQL writes
    ``title AS title``, which only the table's name reaches (:func:`_check_schema_qualifier`)."""
    for col in _columns(node):
        if col.args.get("db"):
            col.set("db", None)
    return node


def _star_modifier_name(col: exp.Column) -> bool:
    """Whether ``col`` is a name in a star's EXCLUDE list or the old name in its RENAME list:
    DuckDB matches those against every relation the star covers (an unqualified ``id``
    excludes every table's ``id``), so they are not column references to resolve."""
    parent = col.parent
    if isinstance(parent, exp.Star):
        return col.arg_key == "except_"
    return (isinstance(parent, exp.Alias) and col.arg_key == "this"
            and isinstance(parent.parent, exp.Star) and parent.arg_key == "rename")


def star_modifier_items(star: exp.Star) -> tuple[list[exp.Column], list[exp.Alias], list[exp.Alias]]:
    """A star's EXCLUDE names, REPLACE items (``expr AS name``) and RENAME items (``old AS new``)."""
    return (list(star.args.get("except_") or []), list(star.args.get("replace") or []),
            list(star.args.get("rename") or []))


def star_owns(relation: Relation, name: exp.Column) -> bool:
    """Whether an EXCLUDE or RENAME name (``id`` or ``alias.id``) names a column of ``relation``."""
    if name.table and name.table.lower() != relation.alias:
        return False
    return name.name.lower() in relation.columns


def _check_star_modifiers(star: exp.Star, relations: list[Relation], has_schema: bool) -> None:
    """Refuse a bare ``*`` with modifiers the planned SQL cannot spell out per relation in the
    query's order (see :func:`deepquery.rewrite.plan_sql`), and EXCLUDE or REPLACE names that no
    relation has (DuckDB refuses those too)."""
    excluded, replaced, renamed = star_modifier_items(star)
    qualified = isinstance(star.parent, exp.Column) and star.arg_key == "this"
    if qualified:
        return  # alias.* lists one relation's columns: the join order cannot reorder them
    parent = star.parent
    if not isinstance(parent, (exp.Select, exp.Count)):
        # COLUMNS(*), (*), [*]: every column in FROM order, which the planned SQL changes
        raise QueryError(f"* inside an expression is not supported: {parent.sql(dialect='duckdb')}"
                         "; name the columns or use alias.*")
    if not (excluded or replaced or renamed or star.args.get("ilike")):
        return
    if star.args.get("ilike"):
        raise QueryError(f"SELECT * ILIKE is not supported; list the columns: {star.sql()}")
    if not has_schema:
        raise QueryError("SELECT * with EXCLUDE, REPLACE or RENAME needs the database's schema")
    aliases = {r.alias for r in relations}
    for name in excluded + [item.this for item in renamed]:
        if name.table and name.table.lower() not in aliases:
            raise QueryError(f"unknown table or alias: {name.table} (in {star.sql()})")
    for name in excluded:
        if not any(star_owns(r, name) for r in relations):
            raise QueryError(f"column {name.sql()} in EXCLUDE list not found (in {star.sql()})")
    for item in replaced:
        owners = [r.alias for r in relations if item.alias.lower() in r.columns]
        if not owners:
            raise QueryError(f"column {item.alias} in REPLACE list not found (in {star.sql()})")
        if len(owners) > 1:
            raise QueryError(f"SELECT * REPLACE of a column several tables have is not supported "
                             f"({item.alias}: {', '.join(owners)}); write {owners[0]}.* REPLACE "
                             "(...) and the other tables' columns")


def _close_equalities(
    equi: list[tuple[int, str, int, str, str]],
    classes: dict[tuple[int, str], list[tuple[int, str]]], relations: list[Relation]
) -> list[JoinEdge]:
    """Every pair of members of an equality class (``classes`` of ``equi``), on two relations,
    is an edge."""
    explicit = {frozenset([(li, lc), (ri, rc)]) for li, lc, ri, rc, _ in equi}
    out = []
    for members in classes.values():
        for (li, lc), (ri, rc) in itertools.combinations(members, 2):
            if li == ri:
                continue
            sql = (f"{quote(relations[li].alias)}.{quote(lc)} = "
                   f"{quote(relations[ri].alias)}.{quote(rc)}")
            out.append(JoinEdge(li, ri, lc, rc, sql, True,
                                frozenset([(li, lc), (ri, rc)]) not in explicit))
    return out


def _cross_domain_edges(equi: list[tuple[int, str, int, str, str]],
                        relations: list[Relation]) -> list[JoinEdge]:
    """The explicit equi edges between columns of two domains, once each, as written: they
    imply no edge and join no class (see :attr:`JoinEdge.transitive`)."""
    out, seen = [], set()
    for li, lc, ri, rc, _ in equi:
        (li, lc), (ri, rc) = sorted([(li, lc), (ri, rc)])
        if (li, lc, ri, rc) in seen:
            continue
        seen.add((li, lc, ri, rc))
        sql = (f"{quote(relations[li].alias)}.{quote(lc)} = "
               f"{quote(relations[ri].alias)}.{quote(rc)}")
        out.append(JoinEdge(li, ri, lc, rc, sql, True, False, transitive=False))
    return out


def _same_relation_equalities(
    classes: dict[tuple[int, str], list[tuple[int, str]]], relations: list[Relation]
) -> list[tuple[int, str]]:
    """Filters ``r.a = r.b`` for two columns of one relation in one equality class.

    ``t.id = ml.movie_id AND t.id = ml.linked_movie_id`` implies ``ml.movie_id =
    ml.linked_movie_id``. No join edge can carry it (both ends are ``ml``), and a join tree's SQL
    states each class once per join, so without this filter a plan joining ``t`` to ``ml`` on
    ``t.id = ml.movie_id`` alone would return rows the query excludes."""
    out: list[tuple[int, str]] = []
    for members in classes.values():
        first: dict[int, str] = {}
        for i, c in members:  # sorted: each relation's columns in name order
            if i in first:
                a = quote(relations[i].alias)
                out.append((i, f"{a}.{quote(first[i])} = {a}.{quote(c)}"))
            else:
                first[i] = c
    return out


def equality_classes(graph: QueryGraph) -> list[frozenset[tuple[int, str]]]:
    """The equality classes of (relation, column) induced by the equi edges: first those of the
    transitive edges (disjoint), then each edge between two domains alone (its two columns; a
    column may be in several of those and in one of the first)."""
    classes = _classes(((e.left, e.left_column), (e.right, e.right_column))
                       for e in graph.edges if e.equi and e.transitive)
    return [frozenset(members) for _, members in sorted(classes.items())] + [
        frozenset([(e.left, e.left_column), (e.right, e.right_column)])
        for e in graph.edges if e.equi and not e.transitive]


def _classes(
    pairs: Iterable[tuple[tuple[int, str], tuple[int, str]]]
) -> dict[tuple[int, str], list[tuple[int, str]]]:
    """Union-find over (relation, column) pairs: each class's root -> its members, sorted; the
    classes in the order of their smallest member."""
    parent: dict[tuple[int, str], tuple[int, str]] = {}

    def find(x: tuple[int, str]) -> tuple[int, str]:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[find(a)] = find(b)
    classes: dict[tuple[int, str], list[tuple[int, str]]] = {}
    for m in sorted(parent):
        classes.setdefault(find(m), []).append(m)
    return classes


def graph_json(graph: QueryGraph) -> str:
    """Stable JSON text of a graph (golden fixtures)."""
    return json.dumps(graph.to_json(), indent=1, sort_keys=True)
