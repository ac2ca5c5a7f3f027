"""Run a planned query on DuckDB next to DuckDB's own plan and compare results and latencies.

The planned SQL runs with DuckDB's join-order optimizer and its build/probe side swap disabled
(``SET disabled_optimizers = 'join_order,build_side_probe_side'``), so DuckDB keeps the given
tree; the original SQL runs with every optimizer on. Both run ``repeat`` times on the same
read-only connection and the median latency is reported.

Both must return the same rows (a multiset; floats equal within a relative 1e-11,
:data:`FLOAT_TOLERANCE`). Under LIMIT or OFFSET that is
too strict: without an ORDER BY that fixes them, which rows are kept is DuckDB's choice and
depends on the plan. So when the two differ there, both queries run once more without LIMIT and
OFFSET; the plan is right when those return the same rows, and each limited result holds as
many rows as the other, all of them rows of the unlimited result ("same rows up to LIMIT's
choice"). A plan that loses or adds rows is still caught: its unlimited result differs.

The re-check runs the query without LIMIT, which may take far longer than with it (a LIMIT over
a cross join). It is bounded: past ``recheck_timeout_s`` seconds DuckDB's running query is
interrupted (``con.interrupt()`` from a timer thread) and the verdict is "LIMIT choice
unverified (re-check timed out)" (``limit_unverified``), neither equal nor DIFFER.

Some queries may return other rows under another plan without either being wrong: DISTINCT ON
without an ORDER BY that fixes its rows, window functions over tied rows, ``string_agg`` or
``any_value`` without ORDER BY (:mod:`deepquery.row_order`). When the two differ for such a
query, the verdict is "not comparable" (``order_dependent`` names the construct), not DIFFER.

That re-check runs inside DuckDB and fetches only counts: the unlimited result of a 10-row query
can hold millions of rows (fetched into Python it took 54 s and 2.4 GB for a 3-way join at scale
0.01). Rows are compared by a 64-bit hash of the row but its finite floats: the unlimited
results by their row count and the sum of their row hashes, which are two different multisets
alike only with odds about 2**-64, and per float column by the sum of its values, each weighted
by its row's hash, within :data:`FLOAT_TOLERANCE` of their size; each limited result, run once
more, by finding its rows in the unlimited result (the same hash, floats within the tolerance).
Floats are not hashed rounded: two sums a last bit apart can round apart.
"""
from __future__ import annotations

import contextlib
import logging
import math
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Iterator

import duckdb

from .database import key_domains, primary_keys, timed_select
from .join_tree import JoinTree
from .query_graph import QueryGraph
from .rewrite import has_limit, original_sql, plan_sql
from .row_order import order_dependence, row_keys

logger = logging.getLogger(__name__)

PLANNED_DISABLED = "join_order,build_side_probe_side"
RECHECK_TIMEOUT_S = 60.0
"""Default bound, in seconds, on the LIMIT re-check (see the module docstring)."""


@dataclass(frozen=True)
class RunResult:
    """Latencies (ms, median of repeats) and whether both queries returned the same rows."""

    planned_ms: float
    duckdb_ms: float
    same_result: bool
    """The plan returns the query's rows (up to which rows LIMIT keeps, see ``limit_choice``)."""
    rows: int
    planned_sql: str
    limit_choice: bool = False
    """The two kept different rows under LIMIT or OFFSET, both right (see the module docstring)."""
    limit_unverified: bool = False
    """The two differ under LIMIT or OFFSET and the re-check without them timed out: whether
    the plan is right is not known (``same_result`` is False without meaning it is wrong)."""
    order_dependent: str | None = None
    """The two differ and the query has a construct whose result may depend on row order (this
    names it): not comparable, so ``same_result`` is False without meaning the plan is wrong."""

    @property
    def verdict(self) -> str:
        """``equal``, ``equal up to LIMIT's choice``, ``LIMIT choice unverified (re-check timed
        out)``, ``not comparable`` or ``DIFFER``."""
        if self.limit_choice:
            return "equal up to LIMIT's choice"
        if self.limit_unverified:
            return "LIMIT choice unverified (re-check timed out)"
        if self.same_result:
            return "equal"
        return "not comparable" if self.order_dependent else "DIFFER"


def _timed(con: duckdb.DuckDBPyConnection, sql: str, repeat: int) -> tuple[float, list[tuple]]:
    times, rows = timed_select(con, sql, repeat)
    return statistics.median(times), rows


FLOAT_TOLERANCE = 1e-11
"""Two floats of the two results are one value when they are this close, relative to their size
(or within 1e-9, near 0): a sum over another join order adds in another order, and differs in
its last bits at any magnitude (2892811928.6 and 2892811928.600022, 8e-15 apart; 4e-13 for a sum
of 72k values near 1e15). One value more or less in a sum of n similar ones is 1/n apart."""


def _key(v) -> tuple:
    if isinstance(v, float):
        return ("f", round(v, 9)) if math.isfinite(v) else ("f~", str(v))
    return (type(v).__name__, str(v))


def _canon(rows: list[tuple]) -> Counter:
    """The rows as a multiset of comparable tuples (floats rounded to 9 decimals)."""
    return Counter(tuple(_key(v) for v in r) for r in rows)


def _close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isfinite(a) and math.isfinite(b):
        return math.isclose(a, b, rel_tol=FLOAT_TOLERANCE, abs_tol=1e-9)
    return _key(a) == _key(b)


def same_rows(a: list[tuple], b: list[tuple]) -> bool:
    """Whether two results hold the same rows (a multiset), floats equal within
    :data:`FLOAT_TOLERANCE`: equal as :func:`_canon` has them, or, when floats are in them,
    row by row once both are sorted."""
    if _canon(a) == _canon(b):
        return True
    if len(a) != len(b) or not any(isinstance(v, float) for r in a for v in r):
        return False

    def order(r: tuple) -> tuple:
        return tuple(_key(v) for v in r)
    return all(len(x) == len(y) and all(map(_close, x, y))
               for x, y in zip(sorted(a, key=order), sorted(b, key=order)))


@contextlib.contextmanager
def _tree_kept(con: duckdb.DuckDBPyConnection,
               deadline: _Deadline | None = None) -> Iterator[None]:
    """DuckDB's join ordering off in the block, so that planned SQL runs as the planned tree.
    A re-check's ``deadline`` is closed before the setting is put back: its timer interrupts
    every statement while it runs, and an interrupted reset would leave join ordering off."""
    try:
        con.execute(f"SET disabled_optimizers = '{PLANNED_DISABLED}'")
        yield
    finally:
        if deadline is not None:
            deadline.close()
        con.execute("SET disabled_optimizers = ''")


class _TimedOut(Exception):
    """The LIMIT re-check ran past its deadline."""


class _Deadline:
    """Interrupts ``con``'s queries once ``seconds`` have passed, until :meth:`close`; a query
    started after that is interrupted too (the timer thread interrupts every 10 ms), and
    :meth:`check` refuses to start one."""

    def __init__(self, con: duckdb.DuckDBPyConnection, seconds: float | None) -> None:
        self.con, self.expired = con, threading.Event()
        self._done = threading.Event()
        self._at = None if seconds is None else time.monotonic() + seconds
        self._thread = None
        if seconds is not None:
            self._thread = threading.Thread(target=self._run, args=(seconds,), daemon=True,
                                            name="deepquery-recheck-deadline")
            self._thread.start()

    def _run(self, seconds: float) -> None:
        # a day at a time: a thread cannot wait past threading.TIMEOUT_MAX (292 years), and
        # one asked to (--recheck-timeout 1e12) died with an OverflowError's traceback
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self._done.wait(min(left, 86400.0)):
                return
        self.expired.set()
        while not self._done.is_set():
            self.con.interrupt()
            self._done.wait(0.01)

    def check(self) -> None:
        """Raise :class:`_TimedOut` when the deadline has passed."""
        if self.expired.is_set() or (self._at is not None and time.monotonic() >= self._at):
            raise _TimedOut

    def close(self) -> None:
        """Stop interrupting (waits for the timer thread: no interrupt comes after this)."""
        self._done.set()
        if self._thread is not None:
            self._thread.join()


_FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")


def _row_hashes(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[str, int]:
    """A SELECT of ``h``, a hash of each row of ``sql`` but its finite floats, and ``f0``,
    ``f1``, ... those floats (NULL where not finite; a NULL, NaN or infinite one is in ``h``),
    with the number of float columns. Floats are compared within :data:`FLOAT_TOLERANCE` by
    :func:`_unlimited_check`, not hashed: rounded, two values a last bit apart (a sum in another
    order) could round apart, and did, 9 decimals being more digits than a double holds past 1e7
    (columns renamed by position: a query may repeat a name)."""
    types = [row[1] for row in con.execute(f"DESCRIBE {sql}").fetchall()]
    cols = [f"c{i}" for i in range(len(types))]
    floats = [c for c, t in zip(cols, types) if t in _FLOAT_TYPES]
    hashed = [f"CASE WHEN isfinite({c}) THEN 'finite' ELSE {c}::VARCHAR END" if c in floats
              else c for c in cols]
    values = "".join(f", CASE WHEN isfinite({c}) THEN {c}::DOUBLE END AS f{k}"
                     for k, c in enumerate(floats))
    return (f"SELECT hash({', '.join(hashed)}) AS h{values} "
            f"FROM ({sql}) AS _q({', '.join(cols)})"), len(floats)


def _close_sql(a: str, b: str) -> str:
    """SQL: doubles ``a`` and ``b`` (NULL for none) are one value, as :func:`_close` has it."""
    return (f"({a} IS NOT DISTINCT FROM {b} OR abs({a} - {b}) <= greatest("
            f"{FLOAT_TOLERANCE!r} * greatest(abs({a}), abs({b})), 1e-9))")


@dataclass(frozen=True)
class _Unlimited:
    """What :func:`_unlimited_check` measures of one query."""

    rows: int
    total: int
    """The sum of the rows' hashes (floats left out)."""
    sums: tuple[float, ...]
    """Per float column, the sum of its values each weighted by its row's hash (1 to 2)."""
    mass: tuple[float, ...]
    """Per float column, the same sum of absolute values."""
    stray: int
    """Rows of the limited result that are not rows of the unlimited one."""

    def same(self, other: _Unlimited) -> bool:
        """The same rows (floats within :data:`FLOAT_TOLERANCE`), none of either stray."""
        return (self.rows == other.rows and self.total == other.total
                and self.stray == other.stray == 0 and len(self.sums) == len(other.sums)
                and all(abs(a - b) <= FLOAT_TOLERANCE * max(ma, mb) + 2e-9 * self.rows
                        + 1e-15 * max(ma, mb)
                        for a, b, ma, mb in zip(self.sums, other.sums, self.mass, other.mass)))


def _unlimited_check(con: duckdb.DuckDBPyConnection, limited: str, every: str,
                     deadline: _Deadline) -> _Unlimited:
    """Of ``every`` (a query without LIMIT): its rows, the sum of their hashes and of their
    floats (:class:`_Unlimited`); and how many rows of ``limited`` (the same query with it) are
    not rows of ``every``, floats within :data:`FLOAT_TOLERANCE`. Nothing but these numbers
    leaves DuckDB, and DuckDB streams ``every`` twice, keeping only the rows that share a
    limited row's hash (a join on it), never the unlimited result."""
    deadline.check()
    (e, n), (k, _) = _row_hashes(con, every), _row_hashes(con, limited)
    deadline.check()
    # each float weighted by its row's hash: a float moved to another row changes the sum;
    # fsum (Kahan) keeps the sums' own rounding far below the tolerance
    weight = "(1 + (h % 1024) / 1024.0)"
    sums = "".join(f", coalesce(fsum(f{i} * {weight}), 0), coalesce(fsum(abs(f{i}) * {weight}), 0)"
                   for i in range(n))
    got = con.execute(f"SELECT count(*), coalesce(sum(h), 0){sums} FROM ({e})").fetchone()
    deadline.check()
    fs = [f"f{i}" for i in range(n)]
    match = " AND ".join(["e.h = kept.h"] + [_close_sql(f"kept.{f}", f"e.{f}") for f in fs])
    keys = ", ".join(["kept.h"] + [f"kept.{f}" for f in fs])
    # MATERIALIZED: both uses must see the same rows, which a second run of LIMIT may not keep.
    (stray,) = con.execute(
        f"WITH kept AS MATERIALIZED (SELECT *, count(*) AS m FROM ({k}) GROUP BY ALL), "
        f"found AS (SELECT {keys}, any_value(kept.m) AS m, count(e.h) AS n FROM kept "
        f"LEFT JOIN ({e}) AS e ON {match} GROUP BY {keys}) "
        f"SELECT coalesce(sum(m - n), 0) FROM found WHERE n < m").fetchone()
    return _Unlimited(got[0], got[1], tuple(got[2::2]), tuple(got[3::2]), stray)


def _recheck(con: duckdb.DuckDBPyConnection, graph: QueryGraph, tree: JoinTree, sql: str,
             original_text: str, timeout_s: float | None) -> bool | None:
    """The LIMIT re-check (see the module docstring): whether both are right, or None when it
    ran past ``timeout_s`` seconds (None: no bound)."""
    deadline = _Deadline(con, timeout_s)
    try:
        # the original first: the planned check's block closes the deadline as it ends
        want = _unlimited_check(con, original_text, original_sql(graph, limit=False), deadline)
        with _tree_kept(con, deadline):
            got = _unlimited_check(con, sql, plan_sql(graph, tree, limit=False), deadline)
    except (duckdb.InterruptException, _TimedOut) as e:
        if isinstance(e, duckdb.InterruptException) and not deadline.expired.is_set():
            raise  # Ctrl-C, not the deadline
        logger.info("LIMIT re-check of %s timed out after %s s", graph.name, timeout_s)
        return None
    finally:
        deadline.close()
    return got.same(want)


def run_plan(con: duckdb.DuckDBPyConnection, graph: QueryGraph, tree: JoinTree,
             repeat: int = 1, recheck_timeout_s: float | None = RECHECK_TIMEOUT_S,
             planned_sql: str | None = None) -> RunResult:
    """Execute ``tree`` as forced-order SQL and the original query; compare the two. The LIMIT
    re-check, when one is needed, is bounded by ``recheck_timeout_s`` seconds (None: unbounded).
    ``planned_sql``: ``plan_sql(graph, tree)`` when the caller has it already (a few ms of
    sqlglot work not done twice)."""
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    if recheck_timeout_s is not None and not recheck_timeout_s > 0:
        raise ValueError(f"recheck_timeout_s must be > 0 or None, got {recheck_timeout_s}")
    sql = plan_sql(graph, tree) if planned_sql is None else planned_sql
    original_text = original_sql(graph)
    with _tree_kept(con):
        planned_ms, planned = _timed(con, sql, repeat)
    duck_ms, original = _timed(con, original_text, repeat)
    if same_rows(planned, original):
        return RunResult(planned_ms, duck_ms, True, len(planned), sql)
    choice: bool | None = False
    if has_limit(graph) and len(planned) == len(original):
        choice = _recheck(con, graph, tree, sql, original_text, recheck_timeout_s)
        if choice is None:
            return RunResult(planned_ms, duck_ms, False, len(planned), sql, limit_unverified=True)
    dependent = None if choice else order_dependence(
        graph.sql, row_keys(graph, primary_keys(con), key_domains(con)))
    return RunResult(planned_ms, duck_ms, choice, len(planned), sql, limit_choice=choice,
                     order_dependent=dependent)
