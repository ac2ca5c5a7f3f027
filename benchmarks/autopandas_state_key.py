"""Deduplication keys: time per ``search.state_key`` call, this tree's against a baseline revision's.

The values keyed are the search's own: each benchmark task of ``$SYSML_SHARED/autopandas_benchmarks``
(``../shared`` beside the repo by default) is searched for ``--seconds`` in a forked worker
(``autopandas.isolation.run_isolated``), which records the first ``--per-task`` values the search
passes to ``state_key``. Both versions then key that same list, ``--repeats`` times each, taking
turns (which goes first alternates), and the best time per key of each is printed. The
baseline's ``autopandas/search.py`` is read from git (``--baseline``, a revision) and loaded
beside this tree's modules. Last, the two partitions of the list are compared: values one keys
equally and the other not (the new keys may only split what the old ones merged wrongly).

    python benchmarks/autopandas_state_key.py --seconds 2
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pandas as pd

import autopandas.search as search
from autopandas_bench import load_tasks, select_tasks, split_inputs  # this folder's benchmark
from autopandas._cli import OneLineParser, fail, positive_seconds
from autopandas.isolation import KILL_GRACE_S, WorkerDied, WorkerTimeout, run_isolated

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SYSML_SHARED", REPO.parent / "shared"))
#: The last revision before the keys were read without a Series per column.
BASELINE = "e78d760"


def baseline_search(rev: str) -> ModuleType:
    """``autopandas/search.py`` at ``rev``, loaded as ``autopandas._search_baseline``."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:autopandas/search.py"],
                            capture_output=True, text=True, check=True).stdout
    name = "autopandas._search_baseline"
    mod = ModuleType(name)
    mod.__package__ = "autopandas"
    mod.__file__ = f"<{rev}:autopandas/search.py>"
    sys.modules[name] = mod               # dataclasses look their module up by name
    exec(compile(source, mod.__file__, "exec"), mod.__dict__)  # noqa: S102 - this repository's own code
    return mod


def keyed_values(task: dict, seconds: float, per_task: int) -> list:
    """The first ``per_task`` values one search of ``task`` keys (run in a forked worker)."""
    frames, hints = split_inputs(task)

    def work() -> list:
        seen: list = []
        real = search.state_key

        def record(v: object) -> object:
            if len(seen) < per_task:
                seen.append(v)
            return real(v)
        search.state_key = record
        search.synthesize(frames, task["output"], search.SearchConfig(timeout_s=seconds),
                          constants=search.hint_constants(hints))
        return seen
    try:
        return run_isolated(work, time.monotonic() + seconds + KILL_GRACE_S)
    except (WorkerTimeout, WorkerDied) as e:
        print(f"{task['id']}: no values ({e})", file=sys.stderr)
        return []


def per_key_us(fn, values: list) -> float:
    t = time.perf_counter()
    for v in values:
        fn(v)
    return (time.perf_counter() - t) / len(values) * 1e6


def partition(fn, values: list) -> set[frozenset[int]]:
    groups: dict = {}
    for i, v in enumerate(values):
        k = fn(v)
        groups.setdefault(("unkeyed", i) if k is None else k, set()).add(i)
    return {frozenset(g) for g in groups.values()}


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=positive_seconds, default=2.0,
                    help="search time per task while recording values (default 2)")
    ap.add_argument("--per-task", type=int, default=400, help="values recorded per task (default 400)")
    ap.add_argument("--repeats", type=int, default=5, help="timed passes over the values per version (default 5)")
    ap.add_argument("--only", default="", help="comma-separated task ids (default: all 48)")
    ap.add_argument("--baseline", default=BASELINE,
                    help=f"git revision whose state_key is the baseline (default {BASELINE})")
    args = ap.parse_args(argv)
    if args.per_task < 1 or args.repeats < 1:
        ap.error("--per-task and --repeats must be >= 1")
    if not (SHARED / "autopandas_benchmarks").is_dir():
        return fail(ap.prog, f"shared data not found: no folder {SHARED / 'autopandas_benchmarks'}; "
                    "set SYSML_SHARED to the shared data folder (default: ../shared beside the repo)")
    tasks, problem = select_tasks(load_tasks(SHARED), args.only)
    if problem:
        return fail(ap.prog, problem)
    try:
        old = baseline_search(args.baseline)
    except subprocess.CalledProcessError as e:
        return fail(ap.prog, f"--baseline {args.baseline}: git show failed: {e.stderr.strip()}")
    values = [v for t in tasks for v in keyed_values(t, args.seconds, args.per_task)]
    if not values:
        return fail(ap.prog, "no values were recorded")
    kinds = pd.Series([type(v).__name__ for v in values]).value_counts().to_dict()
    print(f"{len(values)} values the search keyed ({kinds}), {args.per_task} at most per task")
    best = {"baseline": float("inf"), "this tree": float("inf")}
    versions = [("baseline", old.state_key), ("this tree", search.state_key)]
    for r in range(args.repeats):
        for name, fn in versions if r % 2 == 0 else versions[::-1]:
            best[name] = min(best[name], per_key_us(fn, values))
    print(f"state_key per key, best of {args.repeats}: baseline {args.baseline} {best['baseline']:.1f} us, "
          f"this tree {best['this tree']:.1f} us ({best['baseline'] / best['this tree']:.1f}x)")
    p_old, p_new = partition(old.state_key, values), partition(search.state_key, values)
    split = sum(1 for g in p_old if g not in p_new)
    merged = sum(1 for g in p_new if g not in p_old)
    print(f"distinct keys: baseline {len(p_old)}, this tree {len(p_new)}; "
          f"{'identical partition' if p_old == p_new else f'{split} baseline classes split, {merged} new classes'}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("command: python benchmarks/autopandas_state_key.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
