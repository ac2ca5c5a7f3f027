"""``python -m deepquery``: build the synthetic IMDb, plan, run and compare join orders.

Subcommands: ``data build``, ``data list``, ``data clean``, ``plan FILE``, ``run FILE``,
``compare [FILE]``. Exit codes:
0 done, 2 bad input (one line on stderr), 1 internal error; ``run`` also exits 1 when the
results DIFFER and 3 when they differ but cannot be compared (the result may depend on row
order, or the LIMIT re-check timed out).
"""
from __future__ import annotations

import argparse
import base64
import codecs
import contextlib
import json
import logging
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Iterator

import duckdb

from sysml_cli import (
    interrupt_line,
    is_output_failure,
    name_too_long,
    one_line,
    output_failed,
    run_main,
)
from sysml_datasets.imdb import (
    ImdbConfig,
    check_seed,
    connection_problem,
    database_path,
    default_cache_dir,
    held_by_another_process,
)

from ._cache_files import CacheFile, remove_unless_held, scan
from ._card_cache import CardinalityCache
from ._cli import OneLineParser
from .cardinality import Cardinality, EstimatedCardinality, TrueCardinality
from .cost_models import COST_MODELS, get_cost_model, relative_cost
from .database import TableStats, bind, connect, fingerprint, schema_of
from .execute import RECHECK_TIMEOUT_S, run_plan
from .optimizers import MAX_JOIN_PAIRS, OPTIMIZERS, SearchSpaceTooLarge, get_optimizer
from .query_graph import CONTROL_CHARACTER, QueryError, QueryGraph, parse_query
from .rewrite import original_sql, plan_sql

logger = logging.getLogger("deepquery")


EXIT_NOT_COMPARABLE = 3
"""``run``'s exit code when the two results differ and the plan cannot be judged by its rows:
the query's result may depend on row order (DISTINCT ON, window functions, string_agg, ...),
or the LIMIT re-check timed out (``--recheck-timeout``)."""


class BadInput(Exception):
    """A user mistake: reported as one line, exit code 2."""


class _TooLarge(BadInput):
    """An exhaustive optimizer refused the query (bad input for ``plan`` and ``run``); the
    refusal itself is ``error``, so ``compare`` can skip that optimizer and say why."""

    def __init__(self, label: str, error: SearchSpaceTooLarge) -> None:
        super().__init__(f"{label}: {error}")
        self.error = error


class _InternalError(Exception):
    """A check of our own output failed (deepquery's bug, not the user's): one line, exit 1."""


@dataclass
class _Session:
    graph: QueryGraph
    con: duckdb.DuckDBPyConnection
    db: Path
    cards: Cardinality
    cache: CardinalityCache | None
    label: str


def _progress_bar(total: int, desc: str):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="step", file=sys.stderr,
                disable=not sys.stderr.isatty(), leave=False)


_STORAGE_ERRORS = ("No space left on device", "Disk quota exceeded", "Read-only file system",
                   "Permission denied")


def _storage_problem(e: BaseException) -> str | None:
    """The operating system's reason when a write failed for lack of space or permission
    (DuckDB reports those inside its own exceptions), else None."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    text = str(e)
    return next((reason for reason in _STORAGE_ERRORS if reason in text), None)


def _check_writable(folder: Path) -> None:
    """Bad input unless a file can be created in ``folder`` (a read-only or virtual folder,
    e.g. ``/proc``, where DuckDB's own error reads like our bug), checked before a build."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise BadInput(f"cannot write the database in {folder}: cannot create a file there "
                       f"({e.strerror or e})") from None


def _build(config: ImdbConfig, path: Path, note: str | None = None) -> Path:
    """Build ``path``; ``note`` (a line for stderr) is printed once the folder is known writable."""
    from sysml_datasets.imdb import build_database  # imports pandas: only when building
    _check_writable(path.parent)
    if note is not None:
        print(note, file=sys.stderr)
    bar = _progress_bar(11, f"building synthetic IMDb (scale {config.scale:g})")
    try:
        return build_database(path, config, progress=lambda step: (bar.set_postfix_str(step),
                                                                   bar.update(1)))
    except (OSError, duckdb.Error) as e:
        reason = _storage_problem(e)
        if reason is None or _is_interrupt(e):
            raise
        raise BadInput(f"cannot write the database in {path.parent}: {reason}") from None
    finally:
        bar.close()


def _cached_path(config: ImdbConfig, args: argparse.Namespace) -> Path:
    """Where the cached database of ``config`` goes; bad input when something that is not a file
    holds that name (a folder, a pipe, a symlink to one): not a database, nor ours to replace."""
    path = database_path(config, _cache_dir(args))
    if path.exists() and not path.is_file():
        what = "a folder" if path.is_dir() else "not a regular file"
        raise BadInput(f"{path}: is {what}, where the cached database goes: move it away, or "
                       "choose another --cache-dir")
    return path


def _open_cached(config: ImdbConfig, path: Path) -> duckdb.DuckDBPyConnection | None:
    """A connection to the cached database of ``config`` at ``path`` (which exists), or None when
    it must be rebuilt (unreadable, truncated, other settings), said on stderr before it is
    replaced; the database is opened once, for both the check and the use. A file another
    process holds open for writing is bad input, not rebuilt under it."""
    try:
        con = connect(path)
    except duckdb.Error as e:
        if held_by_another_process(e):  # a sound file, not ours to rebuild
            raise BadInput(f"{path}: cannot open database: {str(e).splitlines()[0]}") from None
        problem = f"it cannot be opened ({str(e).splitlines()[0]})"
    else:
        problem = connection_problem(con, config)
        if problem is None:
            return con
        con.close()
    print(f"deepquery: rebuilding {path}: {problem}", file=sys.stderr)
    return None


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    try:
        return connect(path)
    except duckdb.Error as e:
        raise BadInput(f"{path}: cannot open database: {str(e).splitlines()[0]}") from None


def _cache_dir(args: argparse.Namespace, create: bool = True) -> Path:
    """The cache folder (--cache-dir, else $SYSML_CACHE, else ~/.cache/sysml), created if
    missing; with ``create`` False, one that does not exist is bad input (``data list`` and
    ``data clean`` of a mistyped folder said 'removed 0 files', exit 0)."""
    if args.cache_dir == "":  # an unset shell variable (--cache-dir "$DIR"), not the default
        raise BadInput("--cache-dir: empty path")
    if args.cache_dir:
        path, name = Path(args.cache_dir), "--cache-dir"
    else:
        path = default_cache_dir()
        name = "$SYSML_CACHE" if os.environ.get("SYSML_CACHE") else "cache folder"
    if path.exists() and not path.is_dir():
        raise BadInput(f"{name} {path}: not a directory")
    if not create:
        if not path.is_dir():
            raise BadInput(f"{name} {path}: the folder does not exist")
        return path
    missing = []  # the folders mkdir makes, deepest first: taken away again if it fails
    try:
        up = path.absolute()
        while not up.exists() and up != up.parent:
            missing.append(up)
            up = up.parent
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        for folder in missing:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty: never one another process has filled
        raise BadInput(f"{name} {path}: cannot create it: {e.strerror or e}") from None
    return path


def _is_duckdb_file(path: Path) -> bool:
    """Whether the file starts with DuckDB's header: a checksum, then the magic ``DUCK``."""
    with open(path, "rb") as f:
        return f.read(12)[8:12] == b"DUCK"


def _database(args: argparse.Namespace) -> tuple[Path, duckdb.DuckDBPyConnection]:
    """The database file and a read-only connection to it."""
    if args.db == "":  # an unset shell variable (--db "$DB"): not the synthetic IMDb silently
        raise BadInput("--db: empty path")
    if args.db:
        path = Path(args.db)
        if path.is_dir():
            raise BadInput(f"{path}: is a directory, not a database file")
        if not path.is_file():
            raise BadInput(f"{path}: database not found")
        try:
            duck = _is_duckdb_file(path)
        except OSError as e:
            raise BadInput(f"{path}: cannot read: {e.strerror or e}") from None
        if not duck:
            raise BadInput(f"{path}: not a DuckDB database")
        return path, _connect(path)
    config = ImdbConfig(scale=args.scale, seed=args.seed)
    path = _cached_path(config, args)
    note = None
    if not path.exists():
        note = f"deepquery: building the synthetic IMDb at {path} (first use)"
    else:
        con = _open_cached(config, path)
        if con is not None:
            return path, con
    _build(config, path, note)
    return path, _connect(path)


STDIN = "-"
"""The query file name that reads the query from standard input, as Unix tools take it."""


def _read_query(path: str | None) -> tuple[str, str]:
    """The query text of ``path`` (None: the built-in example; ``-``: standard input) and the
    query's name."""
    if path is None:
        text = resources.files("deepquery").joinpath("examples/example.sql").read_text()
        return text, "example"
    if path == STDIN:
        return _decode(_read_stdin(), "stdin"), "stdin"
    if path == "":  # Path("") is the current folder
        raise BadInput("file: empty path")
    p = Path(path)
    if p.is_dir():
        raise BadInput(f"{path}: is a directory, not a SQL file")
    if not p.exists():  # not is_file(): a pipe (``plan <(...)``, /dev/stdin) is read too
        raise BadInput(f"{path}: no such file")
    try:
        with open(p, "rb") as f:
            data = _read_until_refused(f)
    except OSError as e:
        raise BadInput(f"{path}: cannot read: {e.strerror or e}") from None
    # a file is named by its stem (q17a.sql: "q17a"); a pipe or device (plan <(...), /dev/stdin)
    # by the path given: its stem was the descriptor's number ("query 63")
    name = p.stem if p.is_file() and not str(p.absolute()).startswith("/dev/") else path
    return _decode(data, path), name


def _read_stdin() -> bytes:
    stream = getattr(sys.stdin, "buffer", sys.stdin)  # None when started with stdin closed
    if stream is None:
        raise BadInput("stdin: no standard input to read the query from")
    try:
        return _read_until_refused(stream)
    except (OSError, ValueError) as e:  # closed, or a test runner's that refuses reads
        raise BadInput(f"stdin: cannot read: {getattr(e, 'strerror', None) or e}") from None


_CHUNK = 1 << 20


def _read_until_refused(stream: IO) -> bytes:
    """The bytes of ``stream`` up to its end, or up to the first chunk that holds a byte no
    query may hold (not UTF-8, a NUL or another control character): the query is refused
    there anyway (:func:`_decode`, :func:`~deepquery.query_graph.parse_query` name its line
    and column), and a device or pipe that never ends (``plan /dev/zero``, ``/dev/urandom``)
    was read until the kernel killed the process for its memory."""
    chunks, decoder = [], codecs.getincrementaldecoder("utf-8")()
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        if isinstance(chunk, str):  # a text stream (a test runner's stdin)
            chunk = chunk.encode()
        chunks.append(chunk)
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError:
            break
        if CONTROL_CHARACTER.search(text):
            # keep whole characters only: the refusal is the control character's
            pending = len(decoder.getstate()[0])
            if pending:
                chunks[-1] = chunk[:-pending]
            break
    return b"".join(chunks)


def _decode(data: bytes, label: str) -> str:
    """A query file's bytes as text, as ``read_text()`` reads it (universal newlines), or one
    line naming ``label``'s line and column where it is not UTF-8."""
    try:
        text = data.decode("utf-8-sig")  # a byte order mark (Windows editors) is not SQL
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        line = data.count(b"\n", 0, e.start) + 1
        column = len(data[line_start:e.start].decode("utf-8")) + 1  # valid up to the error
        raise BadInput(f"{label}: line {line}, column {column}: not UTF-8 text "
                       f"(byte 0x{data[e.start]:02x})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _session(args: argparse.Namespace, con: duckdb.DuckDBPyConnection, db: Path, label: str,
             text: str, name: str) -> _Session:
    """The query ``text`` parsed on ``con`` and its cardinality source (``con`` left open)."""
    try:
        graph = parse_query(text, schema_of(con), name)
    except QueryError as e:
        raise BadInput(f"{label}: {e}") from None
    cache = None
    try:
        stats = TableStats(con)
        if args.cards == "true":
            cache = CardinalityCache(_cache_dir(args) / "true_cards.sqlite")
            cards: Cardinality = TrueCardinality(graph, stats, fingerprint(con, db), cache)
        else:
            cards = EstimatedCardinality(graph, stats)
    except BaseException as e:
        if cache is not None:
            cache.close()
        if isinstance(e, duckdb.Error):
            raise _duckdb_bad_input(label, e) from None
        raise
    return _Session(graph, con, db, cards, cache, label)


@contextlib.contextmanager
def _opened(args: argparse.Namespace, file: str | None) -> Iterator[_Session]:
    """The session of a query file on the database: its true-cardinality cache committed and
    closed on the way out, then its DuckDB connection closed, on every path (an error, Ctrl-C;
    an open cache kept its write lock, and an in-process caller's next command waited 30 s for
    it; an open connection kept the file from being opened read-write in this process)."""
    text, name = _read_query(file)
    db, con = _database(args)
    try:
        label = "stdin" if file == STDIN else file or "example.sql"
        s = _session(args, con, db, label, text, name)
        try:
            yield s
        finally:
            if s.cache is not None:
                s.cache.close()
    finally:
        con.close()


def _plan(s: _Session, optimizer: str, cost_model: str):
    model = get_cost_model(cost_model)
    t = time.perf_counter()
    try:
        tree = get_optimizer(optimizer)(s.graph, s.cards, model)
    except SearchSpaceTooLarge as e:  # the query is too big for this optimizer
        raise _TooLarge(s.label, e) from None
    except QueryError as e:
        raise BadInput(f"{s.label}: {e}") from None
    except duckdb.Error as e:  # a true cardinality's COUNT(*) failed on the user's predicates
        raise _duckdb_bad_input(s.label, e) from None
    return tree, (time.perf_counter() - t) * 1000.0


def _check_binds(s: _Session, sql: str) -> None:
    """Check that DuckDB binds the planned ``sql`` (binding only: no optimizing, no data read;
    a few ms, mostly sqlglot's parse), so ``plan`` never prints SQL DuckDB refuses. When it does not, the user's
    query is bad input if it does not bind either (a type error DuckDB alone finds), else the
    rewrite is wrong: an internal error, exit 1."""
    try:
        bind(s.con, sql)
    except (duckdb.Error, QueryError) as e:
        if _is_interrupt(e):
            raise KeyboardInterrupt from None
        try:
            bind(s.con, original_sql(s.graph))
        except duckdb.Error as original:
            raise _duckdb_bad_input(s.label, original) from None
        raise _InternalError(f"{s.label}: the planned SQL does not bind in DuckDB: "
                             f"{str(e).splitlines()[0]}") from None


def _duckdb_bad_input(label: str, e: duckdb.Error) -> BaseException:
    """DuckDB refusing the user's query (a failed cast, a bad LIMIT) as bad input; Ctrl-C,
    which DuckDB reports as its own exception, stays an interrupt; DuckDB's INTERNAL Error is a
    DuckDB bug, not the query's fault: exit 1 (DuckDB 1.5.6's top_n_window_elimination fails
    on a QUALIFY row_number() = 1 over a self-join in one FROM order, the user's or a plan's)."""
    if _is_interrupt(e):
        return KeyboardInterrupt()
    if isinstance(e, duckdb.InternalException):
        return _InternalError(f"{label}: a DuckDB bug, not the query's fault: "
                              f"{str(e).splitlines()[0]}")
    return BadInput(f"{label}: DuckDB: {str(e).splitlines()[0]}")


def cmd_data_build(args: argparse.Namespace) -> int:
    config = ImdbConfig(scale=args.scale, seed=args.seed, witnesses=not args.no_witnesses)
    path = _cached_path(config, args)
    t = time.perf_counter()
    con = None if args.force or not path.exists() else _open_cached(config, path)
    built = con is None
    if built:
        _build(config, path)
        con = _connect(path)
    try:
        rows = {t_: con.execute(f"SELECT count(*) FROM {t_}").fetchone()[0]
                for t_ in sorted(schema_of(con))}
        meta = dict(con.execute("SELECT key, value FROM _sysml_meta").fetchall())
    except duckdb.Error as e:  # replaced or damaged since it was checked or built
        if _is_interrupt(e):
            raise
        raise BadInput(f"{path}: cannot read the database: {str(e).splitlines()[0]}") from None
    finally:
        con.close()
    out = {"db": str(path), "built": built, "seconds": round(time.perf_counter() - t, 2),
           "scale": config.scale, "seed": config.seed, "rows": rows,
           "witness_report": _witness_report(path, meta)}
    if args.json:
        _print_json(out)
    else:
        print(f"{'built' if built else 'exists'}: {path} ({out['seconds']} s)")
        for t_, n in rows.items():
            print(f"  {t_:16s} {n:>10,}")
    return 0


def _witness_report(path: Path, meta: dict) -> dict:
    """The database's witness report (``{}`` when it has none); a damaged one is bad input naming
    the file (the rest of its metadata passed the cache check, so only this key is wrong)."""
    text = meta.get("witness_report", "{}")
    try:
        report = json.loads(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):  # RecursionError: nested past Python's limit
        report = None
    if not isinstance(report, dict):
        raise BadInput(f"{path}: its witness report (_sysml_meta 'witness_report') is not a JSON "
                       "object: the file is damaged; data build --force rebuilds it")
    return report


def _files(n: int, what: str = "file") -> str:
    """``1 file``, ``2 files``."""
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _size(n: int) -> str:
    """Bytes in the largest unit that keeps the number at least 1 (``11.3 MB``)."""
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1024
        if size < 1024 or unit == "TB":
            break
    return f"{size:.1f} {unit}"


def _json_ready(value):
    """``value`` (dicts, lists, strings, numbers) with every string JSON readers take: a path
    that is not UTF-8 (a file name byte 0xff, which Python holds as the surrogate U+DCFF) has
    U+FFFD for each such byte, and beside it, under its key plus ``_base64``, its bytes
    exactly. Written as the surrogate ``\\udcff``, jq read U+FFFD without saying so, and other
    readers refuse a lone surrogate or cannot write it back out as UTF-8."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out[k] = _json_ready(v)
            if isinstance(v, str) and out[k] != v:
                out[f"{k}_base64"] = base64.b64encode(
                    v.encode("utf-8", "surrogateescape")).decode("ascii")
        return out
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        # JSON has no inf or NaN: Python wrote Infinity and NaN, which jq and other readers
        # refuse (a plan's cost past 1e308; the ratio of two such costs)
        return None
    return value


def _print_json(value) -> None:
    """Print ``value`` as JSON (see :func:`_json_ready`): a cost or ratio that is inf or NaN
    is null."""
    print(json.dumps(_json_ready(value), indent=1, allow_nan=False))


def _file_json(f: CacheFile) -> dict:
    return {"path": str(f.path), "bytes": f.size, "status": f.status, "what": f.why}


def _scan(folder: Path, current: Path | None = None) -> list[CacheFile]:
    try:
        return scan(folder, current)
    except OSError as e:  # a folder we may not list
        raise BadInput(f"{folder}: cannot list the cache folder: {e.strerror or e}") from None


def cmd_data_list(args: argparse.Namespace) -> int:
    folder = _cache_dir(args, create=False)
    current = database_path(ImdbConfig(scale=args.scale, seed=args.seed,
                                       witnesses=not args.no_witnesses), folder)
    files = _scan(folder, current)
    stale = [f for f in files if f.status == "stale"]
    if args.json:
        _print_json({"cache_dir": str(folder), "current": str(current),
                     "current_exists": current.is_file(),
                     "files": [_file_json(f) for f in files],
                     "bytes": sum(f.size for f in files),
                     "stale_bytes": sum(f.size for f in stale)})
        return 0
    print(f"cache folder {folder}: {_files(len(files), 'deepquery file')}, "
          f"{_size(sum(f.size for f in files))}")
    for f in files:
        print(f"  {f.status:8s} {_size(f.size):>9s}  {f.path.name}  ({f.why})")
    if not current.is_file():
        print(f"these settings would build {current.name} (not there yet)")
    print(f"stale: {_files(len(stale))}, {_size(sum(f.size for f in stale))}"
          + (" (python -m deepquery data clean removes them)" if stale else ""))
    return 0


def cmd_data_clean(args: argparse.Namespace) -> int:
    folder = _cache_dir(args, create=False)
    removed, held = [], []
    for f in _scan(folder):
        if f.status != "stale":
            continue
        why = remove_unless_held(f.path, dry_run=args.dry_run, listed=f.identity)
        if why is None:
            removed.append(f)
        else:
            held.append((f, why))
    freed = sum(f.size for f in removed)
    if args.json:
        _print_json({"cache_dir": str(folder), "dry_run": args.dry_run,
                     "removed": [_file_json(f) for f in removed],
                     "kept": [dict(_file_json(f), why=why) for f, why in held],
                     "bytes_freed": freed})
        return 0
    verb = "would remove" if args.dry_run else "removed"
    for f in removed:
        print(f"{verb} {f.path.name} ({_size(f.size)}: {f.why})")
    for f, why in held:
        print(f"kept {f.path.name}: {why}")
    print(f"{verb} {_files(len(removed))}, {_size(freed)}, in {folder}"
          + (f"; {len(held)} stale kept" if held else ""))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    with _opened(args, args.file) as s:
        tree, ms = _plan(s, args.optimizer, args.cost_model)
        sql = plan_sql(s.graph, tree)
        _check_binds(s, sql)
    out = {"query": s.graph.name, "relations": list(s.graph.aliases), "plan": tree.nested(s.graph),
           "cost": tree.cost, "cost_model": args.cost_model, "optimizer": args.optimizer,
           "cards": args.cards, "rows": tree.card, "planning_ms": round(ms, 3), "sql": sql,
           "db": str(s.db)}
    if args.json:
        _print_json(out)
        return 0
    print(f"query {s.graph.name}: {s.graph.n} relations, {len(s.graph.edges)} join edges")
    print(f"optimizer {args.optimizer}, cost model {args.cost_model}, {args.cards} cardinalities")
    rows = "rows" if args.cards == "true" else "estimated rows"
    print(f"cost {tree.cost:,.2f}   {rows} {tree.card:,.0f}   planning {ms:.2f} ms")
    print(tree.pretty(s.graph))
    print("\n" + sql + ";")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    with _opened(args, args.file) as s:
        tree, ms = _plan(s, args.optimizer, args.cost_model)
        if s.cache is not None:  # planning is done with it: no write held during the run
            s.cache.flush()
        sql = plan_sql(s.graph, tree)
        _check_binds(s, sql)
        try:
            r = run_plan(s.con, s.graph, tree, repeat=args.repeat,
                         recheck_timeout_s=args.recheck_timeout, planned_sql=sql)
        except duckdb.Error as e:
            raise _duckdb_bad_input(s.label, e) from None
    out = {"query": s.graph.name, "optimizer": args.optimizer, "cost_model": args.cost_model,
           "cards": args.cards, "plan": tree.nested(s.graph), "cost": tree.cost,
           "planning_ms": round(ms, 3), "planned_ms": round(r.planned_ms, 3),
           "duckdb_ms": round(r.duckdb_ms, 3),
           "same_result": None if r.order_dependent or r.limit_unverified else r.same_result,
           "limit_choice": r.limit_choice, "limit_unverified": r.limit_unverified,
           "verdict": r.verdict,
           "order_dependent": r.order_dependent, "rows": r.rows,
           "sql": r.planned_sql, "db": str(s.db)}
    if args.json:
        _print_json(out)
    else:
        print(f"query {s.graph.name}: {args.optimizer} plan (cost {tree.cost:,.2f}, "
              f"planned in {ms:.2f} ms)")
        print(f"  planned order, DuckDB join ordering off: {r.planned_ms:9.2f} ms")
        print(f"  original SQL, DuckDB's own optimizer:    {r.duckdb_ms:9.2f} ms")
        if r.limit_choice:  # LIMIT without an ORDER BY that fixes which rows it keeps
            print(f"  results equal up to LIMIT's choice ({r.rows} rows; other rows kept, "
                  "the same rows without LIMIT)")
        elif r.limit_unverified:
            print(f"  results: LIMIT choice unverified (re-check timed out after "
                  f"{args.recheck_timeout:g} s; {r.rows} rows, other rows kept)")
        elif r.order_dependent:
            print(f"  results not comparable: the result may depend on row order "
                  f"({r.order_dependent})")
        else:
            print(f"  results {'equal' if r.same_result else 'DIFFER'} ({r.rows} rows)")
    if r.order_dependent or r.limit_unverified:
        return EXIT_NOT_COMPARABLE
    return 0 if r.same_result else 1


def cmd_compare(args: argparse.Namespace) -> int:
    rows, skipped = [], []
    with _opened(args, args.file) as s:
        for name in OPTIMIZERS:
            try:
                tree, ms = _plan(s, name, args.cost_model)
            except _TooLarge as e:  # too large for an exhaustive optimizer: compare the others
                skipped.append(name)
                logger.warning("%s skipped: %s", name, e.error.reason)
                rows.append({"optimizer": name, "cost": None, "planning_ms": None, "plan": None})
                continue
            rows.append({"optimizer": name, "cost": tree.cost, "planning_ms": round(ms, 3),
                         "plan": tree.nested(s.graph)})
    if len(skipped) == len(rows):
        raise BadInput(f"{s.label}: every optimizer refused the query")
    base = rows[0]["cost"]
    for r in rows:
        if r["cost"] is None or base is None:
            r["relative_to_dp"] = None
        else:
            r["relative_to_dp"] = relative_cost(r["cost"], base)
    if args.json:  # JSON has no infinity: an infinitely worse plan's ratio is null there
        for r in rows:
            if r["relative_to_dp"] == float("inf"):
                r["relative_to_dp"] = None
        _print_json({"query": s.graph.name, "cost_model": args.cost_model,
                     "cards": args.cards, "db": str(s.db), "optimizers": rows})
        return 0
    print(f"query {s.graph.name}: {s.graph.n} relations; cost model {args.cost_model}, "
          f"{args.cards} cardinalities")
    print(f"{'optimizer':12s} {'cost':>16s} {'x dp':>9s} {'planning ms':>12s}")
    for r in rows:
        if r["cost"] is None:
            print(f"{r['optimizer']:12s} {'(too large)':>16s} {'-':>9s} {'-':>12s}")
            continue
        ratio = "-" if r["relative_to_dp"] is None else f"{r['relative_to_dp']:.3f}"
        print(f"{r['optimizer']:12s} {r['cost']:16,.2f} {ratio:>9s} {r['planning_ms']:12.2f}")
    return 0


def _add_db_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="DuckDB file to use (default: the cached synthetic IMDb, "
                   "built on first use)")
    p.add_argument("--scale", type=float, default=0.01,
                   help="scale of the synthetic IMDb when --db is not given, 0.0005 to 1 "
                   "(default 0.01)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic IMDb, 0 to 2**64 - 1 (default 0)")
    p.add_argument("--cache-dir", help="cache folder (default $SYSML_CACHE or ~/.cache/sysml)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")


def _add_plan_flags(p: argparse.ArgumentParser, optimizer: bool = True) -> None:
    if optimizer:
        p.add_argument("--optimizer", default="dp", choices=list(OPTIMIZERS),
                       help="join-order optimizer (default dp); the exhaustive ones (dp, "
                       f"left-deep, right-deep, zigzag) refuse a query needing more than "
                       f"{MAX_JOIN_PAIRS:,} join pairs to cost (dp: from 14 tables all joined on one "
                       "column)")
    p.add_argument("--cost-model", default="cout", choices=list(COST_MODELS),
                   help="cost model (default cout)")
    p.add_argument("--cards", default="estimated", choices=["estimated", "true"],
                   help="cardinality source (default estimated; true counts every sub-join "
                   "exactly by message passing over the join tree when the query is an acyclic "
                   "equi-join, as all JOB queries are: seconds for 17 relations; otherwise, or "
                   "when a count passes 2**53, by one COUNT(*) per connected sub-join, slow for "
                   "many relations; counts are cached on disk)")


_EXIT_CODES = ("exit codes: 0 done; 1 internal error, Ctrl-C or SIGTERM, or run's two results DIFFER; 2 bad "
               "input (one line on stderr); 3 run's two results differ but cannot be compared "
               "(the result may depend on row order, or the LIMIT re-check timed out)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m deepquery``."""
    prog = "deepquery" if Path(sys.argv[0]).name == "deepquery" else "python -m deepquery"
    ap = OneLineParser(prog=prog, epilog=_EXIT_CODES, description="Build the synthetic IMDb, "
                        "plan, run and compare join orders.")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    data = sub.add_parser("data", help="synthetic IMDb data")
    dsub = data.add_subparsers(dest="data_command", required=True, parser_class=OneLineParser)
    b = dsub.add_parser("build", help="generate the synthetic IMDb into the cache folder")
    b.add_argument("--scale", type=float, default=0.01,
                   help="fraction of the real IMDb row counts, 0.0005 to 1 (default 0.01)")
    b.add_argument("--seed", type=int, default=0, help="random seed, 0 to 2**64 - 1 (default 0)")
    b.add_argument("--cache-dir", help="cache folder (default $SYSML_CACHE or ~/.cache/sysml)")
    b.add_argument("--no-witnesses", action="store_true",
                   help="do not plant the per-query JOB witnesses (default: plant them)")
    b.add_argument("--force", action="store_true",
                   help="rebuild even if a usable file exists (one that cannot be opened or was "
                   "generated with other settings is always rebuilt)")
    b.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    b.set_defaults(func=cmd_data_build)

    ls = dsub.add_parser("list", help="the cache folder's databases and caches: size, and which "
                         "ones this version can use")
    ls.add_argument("--scale", type=float, default=0.01,
                    help="mark the database of this scale as current (default 0.01)")
    ls.add_argument("--seed", type=int, default=0, help="... and this seed (default 0)")
    ls.add_argument("--no-witnesses", action="store_true", help="... built without witnesses")
    ls.add_argument("--cache-dir", help="cache folder (default $SYSML_CACHE or ~/.cache/sysml)")
    ls.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    ls.set_defaults(func=cmd_data_list)

    cl = dsub.add_parser("clean", help="remove the stale files of the cache folder (databases "
                         "of other fingerprints or the old _v<N> naming, damaged caches, dead "
                         "builds' temporary files); never one another process has open")
    cl.add_argument("--dry-run", action="store_true",
                    help="only say what would be removed (default: remove)")
    cl.add_argument("--cache-dir", help="cache folder (default $SYSML_CACHE or ~/.cache/sysml)")
    cl.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    cl.set_defaults(func=cmd_data_clean)

    p = sub.add_parser("plan", help="plan one query and print the join tree and its SQL")
    p.add_argument("file", help="SQL file with one SELECT ('-': read it from standard input)")
    _add_plan_flags(p)
    _add_db_flags(p)
    p.set_defaults(func=cmd_plan)

    r = sub.add_parser("run", help="run the planned query and DuckDB's own plan; compare",
                       epilog=_EXIT_CODES)
    r.add_argument("file", help="SQL file with one SELECT ('-': read it from standard input)")
    _add_plan_flags(r)
    _add_db_flags(r)
    r.add_argument("--repeat", type=int, default=3, help="runs per query, median reported (default 3)")
    r.add_argument("--recheck-timeout", type=float, default=RECHECK_TIMEOUT_S, metavar="SECONDS",
                   help="bound on the re-check without LIMIT when the two results differ under "
                   "LIMIT; past it the verdict is 'LIMIT choice unverified' (exit 3) "
                   f"(default {RECHECK_TIMEOUT_S:g})")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("compare", help="every optimizer's cost and planning time side by side")
    c.add_argument("file", nargs="?", help="SQL file ('-': read it from standard input; "
                   "default: the built-in example query)")
    _add_plan_flags(c, optimizer=False)
    _add_db_flags(c)
    c.set_defaults(func=cmd_compare)
    return ap


def _chain(e: BaseException | None) -> Iterator[BaseException]:
    """``e`` and the exceptions it was raised from or during, innermost last."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def _is_interrupt(e: BaseException | None) -> bool:
    """Whether an exception is Ctrl-C that DuckDB wrapped in its own: ``RuntimeError: Query
    interrupted`` caused by the KeyboardInterrupt, or ``duckdb.Error: Failed to create view
    '_df': KeyboardInterrupt`` (the message is all that is left)."""
    return any(isinstance(x, (KeyboardInterrupt, duckdb.InterruptException))
               or (isinstance(x, duckdb.Error) and "KeyboardInterrupt" in str(x)) for x in _chain(e))


def _interrupt_of(e: BaseException | None) -> BaseException | None:
    """The KeyboardInterrupt (a SIGTERM's :class:`sysml_cli.Terminated` included) inside an
    exception DuckDB wrapped it in, if it is still there."""
    return next((x for x in _chain(e) if isinstance(x, KeyboardInterrupt)), None)


def _escape_unprintable(err: UnicodeEncodeError) -> tuple[str, int]:
    """An error handler for stdout: a byte of a name that is not UTF-8 (the lone surrogate
    ``\\udcff`` that Python decodes byte 0xff to) as ``\\xff``, any other character the
    encoding lacks as its backslash escape (``\\xe9``, ``\\u2192``)."""
    text = err.object[err.start:err.end]
    return "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF
                   else c.encode("ascii", "backslashreplace").decode("ascii")
                   for c in text), err.end


codecs.register_error("deepquery.escape", _escape_unprintable)


@contextlib.contextmanager
def _printable_stdout() -> Iterator[None]:
    """stdout writing what its encoding cannot take escaped (:func:`_escape_unprintable`), not
    failing: a file name that is not UTF-8, under PYTHONIOENCODING=utf-8 or a UTF-8 locale
    other than C.UTF-8 (whose stdout refuses it), was 'codec can't encode', exit 2."""
    out = sys.stdout
    errors = getattr(out, "errors", None)
    if errors != "strict" or not hasattr(out, "reconfigure"):
        yield
        return
    out.reconfigure(errors="deepquery.escape")
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # a stdout closed meanwhile: reported already
            out.reconfigure(errors=errors)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code. SIGTERM (``kill``, ``timeout``) ends a command as
    Ctrl-C does: a build in progress removes its temporary database, exit 1."""
    with _printable_stdout():
        return run_main("deepquery", lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    logging.basicConfig(level=logging.WARNING, format="deepquery: %(levelname)s: %(message)s")
    # sqlglot warns that it parses EXPLAIN or SHOW "as a 'Command'": a second line before ours,
    # which refuses the statement anyway
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "repeat", 1) < 1:
            raise BadInput("--repeat must be >= 1")
        check_seed(getattr(args, "seed", 0))  # every command, before any work (ValueError: exit 2)
        timeout = getattr(args, "recheck_timeout", 1.0)
        if not (0 < timeout < float("inf")):
            raise BadInput(f"--recheck-timeout must be a positive number of seconds, got {timeout:g}")
        code = args.func(args)
        if sys.stdout is not None:  # a write error of buffered output is reported here, not at exit
            sys.stdout.flush()
        return code
    except BadInput as e:
        print(f"deepquery: {one_line(str(e))}", file=sys.stderr)
        return 2
    except ValueError as e:  # invalid configuration values (scale, seed, ...)
        print(f"deepquery: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    except _InternalError as e:
        print(f"deepquery: internal error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print(interrupt_line("deepquery", e), file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - one line, never a bare traceback
        if _is_interrupt(e):
            print(interrupt_line("deepquery", _interrupt_of(e)), file=sys.stderr)
            return 1
        if (too_long := name_too_long(e)) is not None:  # a query file, --db, --cache-dir
            print(f"deepquery: {too_long}", file=sys.stderr)
            return 2
        if is_output_failure(e):
            # Every file deepquery writes itself reports these as bad input or falls back
            # (database builds, the cardinality cache): this is stdout, whose reader went away
            # (``| head``: quiet) or which cannot take the output (``> /dev/full``: one line).
            return output_failed("deepquery", e)
        logger.debug("internal error", exc_info=True)
        print(f"deepquery: internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
