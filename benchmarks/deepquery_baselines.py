"""Classic join-order optimizers on the 113 JOB queries over the synthetic IMDb.

Measures, in one run:
- how many of the JOB queries return a non-empty result on the generated database;
- per cardinality source (estimated, true) and cost model (cout, cm1, cm2): each optimizer's plan
  cost relative to exhaustive DP (DPccp): median, 95th percentile and max over the queries;
- planning time by number of relations (estimated cardinalities, each optimizer starting from a
  cold cardinality memo, so the time includes the estimates it needs);
- DuckDB execution time of DP's plan (join ordering off) vs DuckDB's own optimizer.

    python benchmarks/deepquery_baselines.py [--scale 0.01] [--true-max-relations 17]

The JOB queries are read from ``$SYSML_SHARED/job`` (``SYSML_SHARED`` defaults to ``../shared``
beside the repo), or ``--queries``. Arguments are checked before any work: a bad one is one line
on stderr, exit 2.

True cardinalities are exact counts of every connected sub-join DP needs (13,248 for each of the
17-relation queries 29a/b/c, about 41k in all), computed by message passing over each query's join
tree (COUNT(*) only where a query is not an acyclic equi-join) and cached on disk
(``<cache>/true_cards.sqlite``), so a second run is fast. The run reports how long they took and
names every query left without them.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from deepquery import (EstimatedCardinality, TableStats, TrueCardinality, connect,
                       get_cost_model, parse_query, run_plan)
from deepquery._card_cache import CardinalityCache
from deepquery._cli import OneLineParser
from deepquery.cost_models import COST_MODELS, relative_cost
from deepquery.database import fingerprint, schema_of
from deepquery.optimizers import OPTIMIZERS, dpccp
from deepquery.query_graph import QueryError
from deepquery.rewrite import original_sql
from sysml_datasets.imdb import ImdbConfig, build_database, database_path, default_cache_dir

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SYSML_SHARED", REPO.parent / "shared"))
SOURCES = ("estimated", "true")
EXEC_MODEL = "cm1"
"""The cost model of the plans the execution comparison runs (the first of --cost-models when
it is not among them)."""


class _BadArgument(Exception):
    """A bad command-line value: one line on stderr, exit 2."""


def _choices(flag: str, value: str, known) -> list[str]:
    """A comma-separated flag's values, each one of ``known``, at least one, no repeats."""
    items = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in items if v not in known]
    if unknown:
        raise _BadArgument(f"{flag}: unknown {', '.join(map(repr, unknown))} "
                           f"(choose from {', '.join(known)})")
    if not items:
        raise _BadArgument(f"{flag}: empty (choose from {', '.join(known)})")
    return list(dict.fromkeys(items))


def _check(args: argparse.Namespace) -> tuple[list[str], list[str], ImdbConfig, list[Path]]:
    """The cost models, cardinality sources, database settings and query files of ``args``, or
    :class:`_BadArgument` before any work is done."""
    for flag, value in (("--cache-dir", args.cache_dir), ("--json-out", args.json_out)):
        if value == "":  # an unset shell variable: not the default folder, not "no file"
            raise _BadArgument(f"{flag}: empty path")
    models = _choices("--cost-models", args.cost_models, list(COST_MODELS))
    sources = _choices("--cards", args.cards, SOURCES)
    if args.exec_repeat < 1:
        raise _BadArgument(f"--exec-repeat must be >= 1, got {args.exec_repeat}")
    if args.true_max_relations < 1:
        raise _BadArgument(f"--true-max-relations must be >= 1, got {args.true_max_relations}")
    try:
        config = ImdbConfig(scale=args.scale, seed=args.seed)
    except ValueError as e:
        raise _BadArgument(str(e).splitlines()[0]) from None
    queries = Path(args.queries)
    if not queries.is_dir():
        raise _BadArgument(f"--queries {queries}: no such folder (default: $SYSML_SHARED/job, "
                           "SYSML_SHARED defaulting to ../shared beside the repo)")
    files = sorted(queries.glob("[0-9]*.sql"),
                   key=lambda p: (int("".join(c for c in p.stem if c.isdigit())), p.stem))
    if not files:
        raise _BadArgument(f"--queries {queries}: no JOB query files (<number><letter>.sql) there")
    if args.json_out:
        _check_json_out(Path(args.json_out))
    return models, sources, config, files


def _check_json_out(path: Path) -> None:
    """:class:`_BadArgument` unless a file can be written at ``path``: checked before the run,
    since it is written last (a missing folder was a traceback after the whole run)."""
    if path.is_dir():
        raise _BadArgument(f"--json-out {path}: is a directory")
    folder = path.parent
    if not folder.is_dir():
        raise _BadArgument(f"--json-out {path}: no such folder {folder}")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise _BadArgument(f"--json-out {path}: cannot create a file in {folder} "
                           f"({e.strerror or e})") from None


def _write_atomically(path: Path, text: str) -> None:
    """``text`` to ``path`` through a temporary file renamed over it: Ctrl-C or a full disk
    leave the file that was there (or none), never half of the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # open(): the umask's mode
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _nonempty(con, graphs) -> tuple[int, list[str]]:
    empty = []
    for g in graphs:
        rows = con.execute(original_sql(g)).fetchall()
        if not rows or all(v is None for v in rows[0]):
            empty.append(g.name)
    return len(graphs) - len(empty), empty


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(error_name="deepquery_baselines", description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.01, help="synthetic IMDb scale (default 0.01)")
    ap.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    ap.add_argument("--cache-dir", default=None, help="cache folder (default $SYSML_CACHE or ~/.cache/sysml)")
    ap.add_argument("--queries", default=str(SHARED / "job"),
                    help="folder of JOB .sql files (default $SYSML_SHARED/job, SYSML_SHARED "
                    "defaulting to ../shared beside the repo)")
    ap.add_argument("--cost-models", default=",".join(COST_MODELS),
                    help=f"comma-separated, of {', '.join(COST_MODELS)} (default all)")
    ap.add_argument("--cards", default=",".join(SOURCES),
                    help="cardinality sources, comma-separated, of estimated, true (default both; "
                    "the planning-time tables need estimated)")
    ap.add_argument("--true-max-relations", type=int, default=17,
                    help="true cardinalities only for queries with at most this many relations")
    ap.add_argument("--exec-repeat", type=int, default=3, help="runs per query for latencies (default 3)")
    ap.add_argument("--no-exec", action="store_true", help="skip the DuckDB execution comparison")
    ap.add_argument("--no-witness-check", action="store_true",
                    help="skip building a witness-free database to count its non-empty queries")
    ap.add_argument("--json-out", help="also write all raw measurements to this JSON file")
    args = ap.parse_args(argv)
    try:
        models, sources, config, files = _check(args)
    except _BadArgument as e:
        print(f"deepquery_baselines: error: {e}", file=sys.stderr)
        return 2

    cache_dir = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    db = database_path(config, cache_dir)
    if not db.exists():
        t = time.perf_counter()
        build_database(db, config)
        print(f"built {db} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    con = connect(db)
    schema = schema_of(con)
    graphs = []
    for f in files:
        try:
            graphs.append(parse_query(f.read_text(), schema, f.stem))
        except (QueryError, OSError, UnicodeDecodeError) as e:
            print(f"deepquery_baselines: error: {f}: {e}", file=sys.stderr)
            return 2
    raw: dict = {"db": str(db), "scale": args.scale, "seed": args.seed, "queries": len(graphs)}

    print(f"# deepquery baselines: {len(graphs)} JOB queries, synthetic IMDb scale {args.scale}, "
          f"seed {args.seed} (load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at start)\n")
    n_ok, empty = _nonempty(con, graphs)
    print(f"Non-empty results: {n_ok} / {len(graphs)} (with planted witnesses){'; empty: ' + ', '.join(empty) if empty else ''}")
    raw["nonempty"] = n_ok
    if not args.no_witness_check:
        plain = ImdbConfig(scale=args.scale, seed=args.seed, witnesses=False)
        plain_db = database_path(plain, cache_dir)
        if not plain_db.exists():
            build_database(plain_db, plain)
        pcon = connect(plain_db)
        n_plain, _ = _nonempty(pcon, graphs)
        pcon.close()
        print(f"Non-empty results without witnesses (value pools and skew only): {n_plain} / {len(graphs)}")
        raw["nonempty_without_witnesses"] = n_plain
    print()

    stats = TableStats(con)
    fp = fingerprint(con, db)
    rel: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    plan_ms: dict[tuple[str, int], list[float]] = defaultdict(list)
    plan_cpu_ms: dict[tuple[str, int], list[float]] = defaultdict(list)
    covered: dict[str, int] = {}
    dp_plans = {}
    true_stats = {"computed": 0, "count_star": 0, "count_s": 0.0, "by_size": defaultdict(float)}
    for source in sources:
        cache = CardinalityCache(cache_dir / "true_cards.sqlite") if source == "true" else None
        todo = [g for g in graphs if source != "true" or g.n <= args.true_max_relations]
        covered[source] = len(todo)
        t_source = time.perf_counter()
        for g in todo:
            shared = TrueCardinality(g, stats, fp, cache) if source == "true" else None
            if shared is not None:
                # Every count DP needs, first, so that counting time is measured apart from
                # planning (the optimizers then hit the in-memory memo).
                t = time.perf_counter()
                dpccp.enumerate_ccp(g.with_cross_edges(), lambda s1, v, grown: [
                    shared.card(s1 | s2) for s2 in (v, *grown)])
                for i in range(g.n):
                    shared.card(1 << i)
                dt = time.perf_counter() - t
                true_stats["count_s"] += dt
                true_stats["by_size"][g.n] += dt
            for model_name in models:
                model = get_cost_model(model_name)
                dp_cost = None
                for name, optimizer in OPTIMIZERS.items():
                    cards = shared if shared is not None else EstimatedCardinality(g, stats)
                    t, c = time.perf_counter(), time.process_time()
                    tree = optimizer(g, cards, model)
                    ms = (time.perf_counter() - t) * 1000.0
                    if source == "estimated":
                        plan_ms[(name, g.n)].append(ms)
                        plan_cpu_ms[(name, g.n)].append((time.process_time() - c) * 1000.0)
                    if name == "dp":
                        dp_cost = tree.cost
                        dp_plans[(source, model_name, g.name)] = tree
                    else:
                        rel[(source, model_name, name)].append(relative_cost(tree.cost, dp_cost))
            if shared is not None:
                true_stats["computed"] += shared.computed
                true_stats["count_star"] += shared.queries_run
            if cache is not None:
                cache.flush()
        if cache is not None:
            cache.close()
        print(f"({source} cardinalities: {covered[source]} queries, "
              f"{time.perf_counter() - t_source:.1f} s)", file=sys.stderr)

    if "true" in sources:
        skipped = [g.name for g in graphs if g.n > args.true_max_relations]
        print(f"True cardinalities: {covered['true']} / {len(graphs)} queries"
              + (f"; NOT covered (more than --true-max-relations {args.true_max_relations} "
                 f"relations): {', '.join(skipped)}" if skipped else "") + ".")
        print(f"Counted {true_stats['computed']} sub-joins not in the cache "
              f"({true_stats['count_star']} of them by COUNT(*), the rest by message passing) in "
              f"{true_stats['count_s']:.1f} s wall (load {os.getloadavg()[0]:.1f}); by relations: "
              + ", ".join(f"{n}: {t:.1f} s" for n, t in sorted(true_stats["by_size"].items())))
        print()
        raw["true_cards"] = {"covered": covered["true"], "skipped": skipped,
                             **{k: v for k, v in true_stats.items() if k != "by_size"}}

    print("## Plan cost relative to exhaustive DP (DPccp)\n")
    print("| cards | cost model | queries | optimizer | median | p95 | max |")
    print("|---|---|---|---|---|---|---|")
    for source in sources:
        for model_name in models:
            for name in OPTIMIZERS:
                if name == "dp":
                    continue
                v = np.array(rel[(source, model_name, name)])
                if len(v) == 0:
                    continue
                print(f"| {source} | {model_name} | {len(v)} | {name} | {np.median(v):.3g} | "
                      f"{np.percentile(v, 95):.3g} | {v.max():.3g} |")
    beaten = sorted({f"{k[0]}/{k[1]}/{k[2]}" for k, v in rel.items() if min(v) < 1 - 1e-9})
    print(f"\nDP beaten by another optimizer (cost ratio < 1): "
          f"{', '.join(beaten) if beaten else 'never'}")
    raw["dp_beaten"] = beaten
    raw["relative_cost"] = {"|".join(k): v for k, v in rel.items()}

    sizes = sorted({g.n for g in graphs})
    if "estimated" not in sources:
        print("\n(no planning-time table: it times estimated cardinalities, not in --cards)")
    else:
        print("\n## Planning time (ms, estimated cardinalities, all cost models; wall median / "
              f"wall max / CPU median per query; load {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores)\n")
        print("| optimizer | " + " | ".join(f"{n} rel" for n in sizes) + " |")
        print("|---|" + "---|" * len(sizes))
        for name in OPTIMIZERS:
            cells = []
            for n in sizes:
                v, cpu = plan_ms.get((name, n), []), plan_cpu_ms.get((name, n), [])
                cells.append(f"{statistics.median(v):.1f} / {max(v):.1f} / "
                             f"{statistics.median(cpu):.1f}" if v else "-")
            print(f"| {name} | " + " | ".join(cells) + " |")
    counts = defaultdict(int)
    for g in graphs:
        counts[g.n] += 1
    print("\nqueries per size: " + ", ".join(f"{n}: {counts[n]}" for n in sizes))
    raw["planning_ms"] = {f"{k[0]}|{k[1]}": v for k, v in plan_ms.items()}
    biggest = [g for g in graphs if g.n == max(sizes)]
    print(f"\nDP on the {len(biggest)} largest queries ({max(sizes)} relations), best of 3 runs "
          "(cold cardinality memo each run; the machine is shared, so best-of filters load):")
    for model_name in models:
        best = []
        for g in biggest:
            wall, cpu = [], []
            for _ in range(3):
                cards = EstimatedCardinality(g, stats)
                t, c = time.perf_counter(), time.process_time()
                OPTIMIZERS["dp"](g, cards, get_cost_model(model_name))
                wall.append((time.perf_counter() - t) * 1000.0)
                cpu.append((time.process_time() - c) * 1000.0)
            best.append((min(wall), min(cpu)))
        print(f"  {model_name}: " + ", ".join(f"{g.name} {w:.0f} ms wall / {c:.0f} ms CPU"
                                            for g, (w, c) in zip(biggest, best)))

    if not args.no_exec:
        source = "true" if "true" in sources else "estimated"
        model_name = EXEC_MODEL if EXEC_MODEL in models else models[0]
        print(f"\n## DuckDB execution: DP plan ({model_name}, {source} cardinalities where "
              "available) vs DuckDB's optimizer\n")
        rows = []
        for g in graphs:
            tree = (dp_plans.get((source, model_name, g.name))
                    or dp_plans.get(("estimated", model_name, g.name)))
            if tree is None:
                continue
            r = run_plan(con, g, tree, repeat=args.exec_repeat)
            rows.append((g.name, g.n, r.planned_ms, r.duckdb_ms, r.same_result, r.limit_choice,
                         r.order_dependent is not None))
    if not args.no_exec and not rows:
        print("no DP plan to run (true cardinalities cover none of the queries)")
    elif not args.no_exec:
        planned = np.array([r[2] for r in rows])
        duck = np.array([r[3] for r in rows])
        ratio = planned / duck
        choice = sum(r[5] for r in rows)  # LIMIT kept other rows, the same ones without it
        unjudged = sum(r[6] for r in rows)  # differ, but the result may depend on row order
        print(f"queries: {len(rows)}; results equal: {sum(r[4] for r in rows)} / {len(rows)}"
              + (f" ({choice} up to LIMIT's choice)" if choice else "")
              + (f"; not comparable (row order): {unjudged}" if unjudged else ""))
        print(f"total ms: DP plan {planned.sum():.0f}, DuckDB {duck.sum():.0f} "
              f"(ratio {planned.sum() / duck.sum():.2f})")
        print(f"per query DP/DuckDB: median {np.median(ratio):.2f}, geometric mean "
              f"{np.exp(np.log(ratio).mean()):.2f}, p95 {np.percentile(ratio, 95):.2f}, "
              f"max {ratio.max():.2f}; DP faster on {(ratio < 1).sum()}")
        print("\n| relations | queries | DP plan ms (median) | DuckDB ms (median) |")
        print("|---|---|---|---|")
        for n in sizes:
            sel = [r for r in rows if r[1] == n]
            if sel:
                print(f"| {n} | {len(sel)} | {statistics.median(r[2] for r in sel):.1f} | "
                      f"{statistics.median(r[3] for r in sel):.1f} |")
        raw["execution"] = rows
    if args.json_out:
        try:
            _write_atomically(Path(args.json_out), json.dumps(raw, indent=1, default=str))
        except OSError as e:  # the disk filled up or the folder went away during the run
            print(f"deepquery_baselines: error: --json-out {args.json_out}: cannot write: "
                  f"{e.strerror or e} (the tables above have the results)", file=sys.stderr)
            return 1
    print(f"\ncommand: python benchmarks/deepquery_baselines.py {' '.join(argv or sys.argv[1:])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
