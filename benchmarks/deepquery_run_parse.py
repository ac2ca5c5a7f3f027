"""What sqlglot's check of a statement would add to ``run``'s timed runs, over the JOB queries.

``run`` times the planned SQL and the original SQL ``--repeat`` times each. Every statement is
first checked by sqlglot (one read-only SELECT); that check now runs once, before the clock
starts (``deepquery.database.timed_select``); it used to run inside every timed run. For each JOB
query's DP plan (estimated cardinalities, ``cout``) this times the check and DuckDB's run with the
fetch (median of ``--repeat`` each) for the planned and the original SQL, and prints the check's
share of the old timed run.

    python benchmarks/deepquery_run_parse.py [--scale 0.01] [--repeat 3]
"""
from __future__ import annotations

import os
import re
import shlex
import statistics
import sys
import time
from pathlib import Path

from sysml_datasets.imdb import ImdbConfig, default_cache_dir, ensure_database

from deepquery import (
    EstimatedCardinality,
    TableStats,
    connect,
    get_cost_model,
    parse_query,
)
from deepquery._cli import OneLineParser
from deepquery.database import schema_of
from deepquery.optimizers import get_optimizer
from deepquery.query_graph import parse_statement
from deepquery.rewrite import original_sql, plan_sql

REPO = Path(__file__).resolve().parents[1]


def _median_ms(f, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(error_name="deepquery_run_parse", description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.01, help="synthetic IMDb scale (default 0.01)")
    ap.add_argument("--cache-dir", default=None,
                    help="cache folder (default $SYSML_CACHE or ~/.cache/sysml)")
    ap.add_argument("--queries", default=str(Path(os.environ.get("SYSML_SHARED", REPO.parent / "shared")) / "job"),
                    help="folder of JOB .sql files (default $SYSML_SHARED/job, else ../shared/job)")
    ap.add_argument("--repeat", type=int, default=3, help="timings of each, median kept (default 3)")
    args = ap.parse_args(argv)
    try:
        if args.repeat < 1:
            raise ValueError(f"--repeat must be >= 1, got {args.repeat}")
        if args.cache_dir == "":
            raise ValueError("--cache-dir: empty path")
        config = ImdbConfig(scale=args.scale)
    except ValueError as e:
        print(f"deepquery_run_parse: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    files = sorted(f for f in Path(args.queries).glob("*.sql") if re.fullmatch(r"\d+[a-z]\.sql", f.name))
    if not files:
        print(f"deepquery_run_parse: error: --queries {args.queries}: no JOB query files "
              "(<number><letter>.sql) there", file=sys.stderr)
        return 2
    con = connect(ensure_database(config, Path(args.cache_dir) if args.cache_dir
                                  else default_cache_dir()))
    schema, stats = schema_of(con), TableStats(con)
    check, run, share = [], [], []
    for f in files:
        g = parse_query(f.read_text(), schema, f.stem)
        tree = get_optimizer("dp")(g, EstimatedCardinality(g, stats), get_cost_model("cout"))
        for sql in (plan_sql(g, tree), original_sql(g)):
            c = _median_ms(lambda: parse_statement(sql, read="duckdb"), args.repeat)  # noqa: B023
            r = _median_ms(lambda: con.execute(sql).fetchall(), args.repeat)  # noqa: B023
            check.append(c)
            run.append(r)
            share.append(c / (c + r))
    con.close()
    print(f"{len(files)} JOB queries, scale {args.scale:g}, DP plans; planned and original SQL, "
          f"median of {args.repeat} timings each")
    print(f"  sqlglot check:        median {statistics.median(check):6.2f} ms, max {max(check):6.2f} ms")
    print(f"  DuckDB run and fetch: median {statistics.median(run):6.2f} ms, max {max(run):6.2f} ms")
    print(f"  the check's share of the old timed run: median {100 * statistics.median(share):.0f}%, "
          f"max {100 * max(share):.0f}%")
    cache_flag = f" --cache-dir {shlex.quote(args.cache_dir)}" if args.cache_dir else ""
    print(f"command: python benchmarks/deepquery_run_parse.py --scale {args.scale:g} "
          f"--repeat {args.repeat} --queries {shlex.quote(args.queries)}{cache_flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
