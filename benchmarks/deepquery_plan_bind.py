"""What ``plan``'s bind check adds: the 113 JOB queries planned through the CLI with and without it.

For each query, in one process and alternating which goes first per repeat: ``python -m deepquery
plan`` (in-process ``main``, output discarded) with the check (as shipped) and with it switched off
(``_check_binds`` a no-op, the old behaviour), plus the check alone (DuckDB binding the planned
SQL). Prints the median per query of each, the added time (median, 95th percentile, max over the
queries) and how many queries plan, print SQL and bind.

    python benchmarks/deepquery_plan_bind.py [--scale 0.01] [--repeat 3] [--optimizer dp]

Arguments are checked before any work: a bad one is one line on stderr, exit 2.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from sysml_datasets.imdb import (
    ImdbConfig,
    database_path,
    default_cache_dir,
    ensure_database,
)

import deepquery.__main__ as cli
from deepquery import (
    EstimatedCardinality,
    TableStats,
    connect,
    get_cost_model,
    parse_query,
)
from deepquery._cli import OneLineParser
from deepquery.database import bind, schema_of
from deepquery.optimizers import OPTIMIZERS, get_optimizer
from deepquery.rewrite import plan_sql

REPO = Path(__file__).resolve().parents[1]


def _plan_ms(argv: list[str], check: bool) -> float:
    real = cli._check_binds
    if not check:
        cli._check_binds = lambda s, sql: None
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            t = time.perf_counter()
            rc = cli.main(argv)
            ms = (time.perf_counter() - t) * 1000.0
    finally:
        cli._check_binds = real
    if rc != 0:
        raise SystemExit(f"plan {' '.join(argv)} exited {rc}")
    return ms


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(error_name="deepquery_plan_bind", description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.01, help="synthetic IMDb scale (default 0.01)")
    ap.add_argument("--cache-dir", default=None, help="cache folder (default $SYSML_CACHE or ~/.cache/sysml)")
    ap.add_argument("--queries", default=str(Path(os.environ.get("SYSML_SHARED", REPO.parent / "shared")) / "job"),
                    help="folder of JOB .sql files (default $SYSML_SHARED/job, else ../shared/job)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each variant per query (default 3)")
    ap.add_argument("--optimizer", default="dp", choices=list(OPTIMIZERS),
                    help="optimizer plan uses (default dp)")
    args = ap.parse_args(argv)
    if args.cache_dir == "":  # an unset shell variable: not the default folder
        print("deepquery_plan_bind: error: --cache-dir: empty path", file=sys.stderr)
        return 2
    if args.repeat < 1:
        print(f"deepquery_plan_bind: error: --repeat must be >= 1, got {args.repeat}",
              file=sys.stderr)
        return 2
    try:
        config = ImdbConfig(scale=args.scale)
    except ValueError as e:
        print(f"deepquery_plan_bind: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    files = sorted(f for f in Path(args.queries).glob("*.sql") if re.fullmatch(r"\d+[a-z]\.sql", f.name))
    if not files:
        print(f"deepquery_plan_bind: error: --queries {args.queries}: no JOB query files "
              "(<number><letter>.sql) there", file=sys.stderr)
        return 2
    cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    db = ensure_database(config, cache)
    assert db == database_path(config, cache)

    con = connect(db)
    bind_ms, bound = [], 0
    schema, stats = schema_of(con), TableStats(con)  # one database: its counts serve every query
    for f in files:  # the check alone, on the plan the CLI prints
        g = parse_query(f.read_text(), schema, f.stem)
        tree = get_optimizer(args.optimizer)(g, EstimatedCardinality(g, stats),
                                             get_cost_model("cout"))
        sql = plan_sql(g, tree)
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            bind(con, sql)
            times.append((time.perf_counter() - t) * 1000.0)
        bind_ms.append(statistics.median(times))
        bound += 1
    con.close()

    with_ms, without_ms = [], []
    for f in files:
        a = ["plan", str(f), "--db", str(db), "--optimizer", args.optimizer]
        w, wo = [], []
        for r in range(args.repeat):
            for check in ((True, False) if r % 2 == 0 else (False, True)):
                (w if check else wo).append(_plan_ms(a, check))
        with_ms.append(statistics.median(w))
        without_ms.append(statistics.median(wo))

    added = np.array(with_ms) - np.array(without_ms)
    b = np.array(bind_ms)
    print(f"{len(files)} JOB queries, scale {args.scale:g}, optimizer {args.optimizer}, "
          f"median of {args.repeat} runs each; {bound} planned SQL texts bind")
    print(f"  plan without the check (old): median {statistics.median(without_ms):8.2f} ms/query")
    print(f"  plan with the check (new):    median {statistics.median(with_ms):8.2f} ms/query")
    print(f"  added (new - old):  median {np.median(added):6.2f}  p95 {np.percentile(added, 95):6.2f}  "
          f"max {added.max():6.2f} ms/query")
    print(f"  the bind alone:     median {np.median(b):6.2f}  p95 {np.percentile(b, 95):6.2f}  "
          f"max {b.max():6.2f} ms/query")
    cache_flag = f" --cache-dir {shlex.quote(args.cache_dir)}" if args.cache_dir else ""
    print(f"command: python benchmarks/deepquery_plan_bind.py --scale {args.scale:g} "
          f"--repeat {args.repeat} --optimizer {args.optimizer} "
          f"--queries {shlex.quote(args.queries)}{cache_flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
