"""Command line: ``python -m autopandas synth IN... OUT [--timeout S] [--max-depth D]
[--memory-limit SIZE] [--constant VALUE]... [--json]``.

Prints one Python expression over ``df0, df1, ...`` (``df0`` is also known as ``df``) with
pandas as ``pd`` whose result matches the output file. The search runs in a forked worker with
hard bounds (``isolation.py``): its address space capped at ``--memory-limit`` (4G by default)
more than the inputs take, killed 1 s past ``--timeout`` (then ``--json`` has
``candidates_tried`` null: what the worker counted died with it). Exit codes: 0
solved, 1 not solved within the limits (the message says what was searched), interrupted
(Ctrl-C or SIGTERM) or an internal error, a worker that died of a signal included (one line each), 2 bad
input (one line on stderr).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from sysml_cli import (
    interrupt_line,
    is_output_failure,
    name_too_long,
    output_failed,
    sigterm_as_interrupt,
    warnings_as_lines,
)

from ._cli import OneLineParser, chain_depth, constant, fail, memory_limit, positive_seconds
from .io import InputError, read_frame
from .isolation import KILL_GRACE_S, WorkerTimeout, run_isolated
from .search import SEARCHES, SearchConfig, csv_matcher, exact_matcher, synthesize


def _parser(prog: str = "autopandas") -> argparse.ArgumentParser:
    ap = OneLineParser(prog=prog, description="Synthesize pandas programs from input/output examples.")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    s = sub.add_parser("synth", help="find a pandas expression turning the inputs into the output",
                       description="Files: CSV (index flattened: a result matches as written with "
                       "index=False, after reset_index() or as to_csv() writes it), Parquet or JSON orient='table' "
                       "(index kept, matched exactly). The last file is the output.")
    s.add_argument("files", nargs="+", metavar="FILE", help="input files, then the output file")
    s.add_argument("--timeout", type=positive_seconds, default=60.0,
                   help="search time limit in seconds (default 60)")
    s.add_argument("--max-depth", type=chain_depth, default=3, help="longest chain of calls, 1-3 (default 3)")
    s.add_argument("--memory-limit", type=memory_limit, default="4G", metavar="SIZE",
                   help="address space the search worker may add to what the inputs take, such as "
                   "512M, 4G or none (no cap); an allocation past it fails only the candidate call "
                   "that made it (default 4G)")
    s.add_argument("--constant", type=constant, action="append", default=[], metavar="VALUE",
                   help="a value the program may use (a filter's threshold, an isin item, a factor); "
                   "repeat for several. 5 is an int, 2.5 a float, \"'5'\" the text 5, other words "
                   "text. Never evaluated; programs that use the given values are preferred")
    s.add_argument("--search", choices=("enumerate",), default="enumerate",
                   help="search strategy (default enumerate: exhaustive, breadth-first by cost)")
    s.add_argument("--json", action="store_true",
                   help="print a JSON object: program, solved, candidates_tried, seconds, outcome "
                   "(solved, time limit or exhausted) and searched (a one-line summary)")
    return ap


def main(argv: list[str] | None = None, prog: str = "autopandas") -> int:
    """Entry point (the ``autopandas`` console script); returns the exit code. SIGTERM (``kill``,
    ``timeout``) ends it as Ctrl-C does: the search worker is killed, one line, exit 1."""
    args = _parser(prog).parse_args(argv)
    try:
        with sigterm_as_interrupt(), warnings_as_lines("autopandas"):
            code = _synth(args)
            sys.stdout.flush()  # a write error of buffered output is reported here, not at exit
        return code
    except KeyboardInterrupt as e:
        print(interrupt_line("autopandas", e), file=sys.stderr)
        return 1
    except OSError as e:
        if (too_long := name_too_long(e)) is not None:  # an input file's name
            print(f"autopandas: error: {too_long}", file=sys.stderr)
            return 2
        # autopandas writes no file of its own: a reader that went away (``| head``) or a full
        # disk (``> /dev/full``) is stdout's
        if not is_output_failure(e):
            print(f"autopandas: internal error: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        return output_failed("autopandas", e)
    except Exception as e:  # noqa: BLE001 - one line, never a bare traceback
        first = str(e).splitlines()[0] if str(e) else ""
        print(f"autopandas: internal error: {type(e).__name__}: {first}", file=sys.stderr)
        return 1


def _synth(args: argparse.Namespace) -> int:
    if len(args.files) < 2:
        return fail("autopandas", "give at least one input file and the output file")
    try:
        cfg = SearchConfig(timeout_s=args.timeout, max_depth=args.max_depth, search=args.search)
    except ValueError as e:
        return fail("autopandas", str(e))
    assert args.search in SEARCHES
    try:
        frames = [read_frame(p) for p in args.files]
    except InputError as e:
        return fail("autopandas", str(e))
    inputs = [f for f, _ in frames[:-1]]
    target, fmt = frames[-1]
    matcher = csv_matcher(target) if fmt == "csv" else exact_matcher(target, bool_is_number=False)
    start = time.monotonic()
    try:
        res = run_isolated(lambda: synthesize(inputs, target, cfg, matcher=matcher,
                                              constants=tuple(args.constant)),
                           start + cfg.timeout_s + KILL_GRACE_S, headroom=args.memory_limit)
    except WorkerTimeout:
        return _killed(args, time.monotonic() - start)
    if args.json:
        print(json.dumps({"program": res.rendered, "solved": res.solved,
                          "candidates_tried": res.candidates_tried, "seconds": round(res.seconds, 3),
                          "outcome": res.outcome, "searched": res.summary()}))
    elif res.solved:
        print(res.rendered)
    else:
        print(f"no program found: {res.summary()}", file=sys.stderr)
    return 0 if res.solved else 1


def _killed(args: argparse.Namespace, seconds: float) -> int:
    line = (f"time limit reached after {seconds:.1f}s: the search was stopped inside a candidate "
            "call that ran past the limit (what it had searched is lost)")
    if args.json:
        print(json.dumps({"program": None, "solved": False, "candidates_tried": None,
                          "seconds": round(seconds, 3), "outcome": "time limit", "searched": line}))
    else:
        print(f"no program found: {line}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(prog="python -m autopandas"))
