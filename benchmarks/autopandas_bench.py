"""AutoPandas benchmark: the 48 tasks of ../shared/autopandas_benchmarks with the enumerative search.

The shared data folder is ``$SYSML_SHARED`` when set, else ``../shared`` beside the repo (as the
tests' ``shared_dir`` fixture finds it). Prints one row per task (solved, seconds, candidates
tried, the program found, or why the search stopped: time limit or exhausted) and totals by the
task's reference depth, then the command that produced it. Each search runs as the command line
runs it, in a forked worker with hard bounds (``autopandas.isolation.run_isolated``): its address
space capped (``--memory-limit``), killed 1 s past ``--timeout`` if one call is stuck in C code
(the row then says ``time limit`` with candidates ``-``: the worker's count died with it; a
worker that crashes says ``worker died``). Inputs that are not frames (a lambda,
a query string, a list) are not run: their literal numbers and quoted strings are tokenized into
constant hints (``search.hint_constants``), never evaluated.

Generalisation: a program that reproduces the one given output may still overfit it. For each
solved task the ``generalizes`` column compares the found program with the task's reference
program (``pandas2_program`` where given, else ``reference_program``) on ``--copies`` seeded,
schema-keeping perturbed copies of the inputs (``autopandas.generalize``): ``yes`` (agrees on
every copy where the reference runs), ``no (d/u)`` (disagrees on d of u usable copies) or ``n/a``
(the reference is not expressible in the DSL, or failed on every copy). Reference text is parsed,
never evaluated; both programs run as DSL calls in the sandbox, and with the search's hard bounds:
each run of either program on a copy, and the reference's parsing and run on the given inputs,
happen in a forked worker capped by ``--memory-limit`` and killed 1 s past ``--timeout`` (the
parsing gets its own 30 s more). A candidate run killed there (or whose worker died) is a
disagreement, so a program that hangs in C code or eats memory on a held-out input does not
generalise; a reference run killed there skips that copy. ``solved`` is unchanged: the
program reproduces the given output. ``--json`` rows add ``generalizes``, the copies made and
usable, the disagreements (``generalize_killed`` of them killed), the reference as a DSL program
(``reference_dsl``) and whether that reproduces the given output under the installed pandas
(``reference_reproduces_output``: false for book_1/book_2, whose outputs keep pandas 1.5's merge
row order).

    python benchmarks/autopandas_bench.py --timeout 60
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

from autopandas._cli import OneLineParser, chain_depth, fail, memory_limit, positive_seconds
from autopandas.equality import equal
from autopandas.generalize import PARSE_S, generalizes, isolated_runner, parse_reference
from autopandas.isolation import KILL_GRACE_S, WorkerDied, WorkerTimeout, run_isolated
from autopandas.program import Program
from autopandas.sandbox import Sandbox
from autopandas.search import SearchConfig, SearchResult, hint_constants, synthesize

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SYSML_SHARED", REPO.parent / "shared"))


def load_tasks(shared: Path) -> list[dict]:
    """The benchmark tasks, decoded by the shared loader (which ships with the data)."""
    bench = shared / "autopandas_benchmarks"
    spec = importlib.util.spec_from_file_location("_ap_load", bench / "load.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.load_benchmarks(str(bench / "benchmarks.json"))


def select_tasks(tasks: list[dict], only: str) -> tuple[list[dict], str | None]:
    """The tasks ``--only`` (comma-separated ids; empty: all) names, or the reason it is refused.

    A typo'd id would run fewer tasks (none: "median solve time nan") and still exit 0, so an id
    that names no task is refused."""
    if not only:
        return tasks, None
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    unknown = sorted(wanted - {t["id"] for t in tasks})
    if unknown:
        return [], (f"--only: no task {', '.join(map(repr, unknown))} among the {len(tasks)} "
                    f"(ids such as {tasks[0]['id']!r}, {tasks[-1]['id']!r})")
    if not wanted:
        return [], f"--only names no task id: {only!r}"
    return [t for t in tasks if t["id"] in wanted], None


def split_inputs(task: dict) -> tuple[list, list]:
    """Frames/Series (the program's df0, df1, ...) and the other inputs (hints only)."""
    frames = [x for x in task["inputs"] if isinstance(x, (pd.DataFrame, pd.Series))]
    hints = [x for x in task["inputs"] if isinstance(x, (str, list, tuple, int, float))
             and not isinstance(x, bool)]
    return frames, hints


def check_generalization(task: dict, frames: list, constants: tuple, program: Program, copies: int,
                         seed: int, time_limit_s: float, headroom: int | None) -> tuple[str, dict]:
    """A solved task's table label and row fields for the generalisation check (module docstring);
    ``frames`` and ``constants`` as the search got them (:func:`split_inputs`, ``hint_constants``).
    Every program run happens in a forked worker: ``time_limit_s`` and ``headroom`` bound it as
    ``search_task``'s bound the search."""
    if copies == 0:
        return "-", {}
    text = task.get("pandas2_program") or task["reference_program"]

    def reference() -> tuple[Program | None, bool | None]:
        ref = parse_reference(text, task["inputs"], task["output"], constants, timeout_s=PARSE_S)
        if ref is None:
            return None, None
        with Sandbox() as box:
            out = ref.run(frames, box)
        return ref, out.ok and equal(task["output"], out.value)

    why = ""
    try:
        ref, reproduces = run_isolated(reference, time.monotonic() + PARSE_S + time_limit_s + KILL_GRACE_S,
                                       headroom=headroom)
    except WorkerTimeout:
        ref, reproduces, why = None, None, "reading the reference program hit the time limit"
    except WorkerDied as e:
        ref, reproduces, why = None, None, f"reading the reference program: {e}"
    g = generalizes(program, ref, frames, k=copies, seed=seed, run=isolated_runner(time_limit_s, headroom))
    if why:
        g = dataclasses.replace(g, reason=why)
    return g.label(), {"generalizes": g.verdict, "generalize_copies": g.copies,
                       "generalize_usable": g.usable, "generalize_disagreements": g.disagreements,
                       "generalize_killed": g.killed, "generalize_reason": g.reason,
                       "reference_dsl": ref.render(len(frames)) if ref else None,
                       "reference_reproduces_output": reproduces}


def search_task(frames: list, target: object, cfg: SearchConfig, constants: tuple,
                headroom: int | None) -> tuple[SearchResult | None, str, float]:
    """One task's search in a forked worker (see the module docstring): the result (None when
    the worker was killed or died), its outcome and its seconds."""
    start = time.monotonic()
    try:
        res = run_isolated(lambda: synthesize(frames, target, cfg, constants=constants),
                           start + cfg.timeout_s + KILL_GRACE_S, headroom=headroom)
    except WorkerTimeout:
        return None, "time limit", time.monotonic() - start
    except WorkerDied as e:
        print(f"worker died: {e}", file=sys.stderr)
        return None, "worker died", time.monotonic() - start
    return res, res.outcome, res.seconds


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(description=__doc__.splitlines()[0],
                       epilog="Data: $SYSML_SHARED/autopandas_benchmarks, where SYSML_SHARED "
                       "defaults to ../shared beside the repo.")
    ap.add_argument("--timeout", type=positive_seconds, default=60.0, help="seconds per task (default 60)")
    ap.add_argument("--max-depth", type=chain_depth, default=3, help="longest chain searched, 1-3 (default 3)")
    ap.add_argument("--only", default="", help="comma-separated task ids (default: all 48)")
    ap.add_argument("--json", default="", help="also write per-task results to this JSON file")
    ap.add_argument("--copies", type=int, default=5,
                    help="perturbed input copies for the generalisation check (default 5; 0 skips it); "
                    "each program run there has --timeout and --memory-limit too")
    ap.add_argument("--seed", type=int, default=0, help="seed of the perturbed copies (default 0)")
    ap.add_argument("--memory-limit", type=memory_limit, default="4G", metavar="SIZE",
                    help="address space each search worker may add to what the inputs take, such as "
                    "512M, 4G or none (default 4G)")
    args = ap.parse_args(argv)
    if args.copies < 0:
        ap.error(f"--copies must be >= 0, got {args.copies}")
    try:
        cfg = SearchConfig(timeout_s=args.timeout, max_depth=args.max_depth)
    except ValueError as e:
        ap.error(str(e))
    if not (SHARED / "autopandas_benchmarks").is_dir():
        return fail(ap.prog, f"shared data not found: no folder {SHARED / 'autopandas_benchmarks'}; "
                    "set SYSML_SHARED to the shared data folder (default: ../shared beside the repo)")
    tasks, problem = select_tasks(load_tasks(SHARED), args.only)
    if problem:
        return fail(ap.prog, problem)
    rows = []
    t_all = time.monotonic()
    print(f"{'task':28s} {'depth':>5s} {'solved':>6s} {'seconds':>8s} {'candidates':>10s} {'len':>3s} "
          f"{'generalizes':>11s}  program")
    for t in tasks:
        frames, hints = split_inputs(t)
        constants = hint_constants(hints)
        res, outcome, seconds = search_task(frames, t["output"], cfg, constants, args.memory_limit)
        solved = res is not None and res.solved
        label, gen = (check_generalization(t, frames, constants, res.program, args.copies, args.seed,
                                           args.timeout, args.memory_limit)
                      if solved else ("-", {}))
        program = res.program if res is not None else None
        row = {"id": t["id"], "category": t["category"], "depth": t["depth"], "solved": solved,
               "seconds": round(seconds, 2),
               "candidates": res.candidates_tried if res is not None else None,
               "program_len": len(program) if program else None,
               "program": res.rendered if res is not None else None, "outcome": outcome,
               "anchor_autopandas_time_s": t.get("anchor_autopandas_time_s"),
               "generalizes": None, **gen}
        rows.append(row)
        shown = row["program"] or f"({outcome})"
        candidates = "-" if row["candidates"] is None else row["candidates"]
        print(f"{t['id']:28s} {t['depth']:5d} {str(solved):>6s} {seconds:8.2f} "
              f"{candidates:>10} {row['program_len'] or '-':>3} {label:>11s}  {shown}",
              flush=True)
    print()
    print(f"{'depth':>5s} {'tasks':>5s} {'solved':>6s} {'seconds':>9s} {'candidates':>11s}")
    for d in sorted({r["depth"] for r in rows}) + ["all"]:
        sel = [r for r in rows if d == "all" or r["depth"] == d]
        print(f"{d!s:>5s} {len(sel):5d} {sum(r['solved'] for r in sel):6d} "
              f"{sum(r['seconds'] for r in sel):9.1f} {sum(r['candidates'] or 0 for r in sel):11d}")
    so = [r for r in rows if r["category"] == "stackoverflow"]
    solved_times = sorted(r["seconds"] for r in rows if r["solved"])
    med = solved_times[len(solved_times) // 2] if solved_times else float("nan")
    print(f"\nStackOverflow tasks solved: {sum(r['solved'] for r in so)}/{len(so)}; "
          f"all: {sum(r['solved'] for r in rows)}/{len(rows)}; median solve time {med:.2f}s; "
          f"wall {time.monotonic() - t_all:.0f}s; limit {args.timeout:g}s/task, depth <= {args.max_depth}")
    solved = [r for r in rows if r["solved"]]
    if args.copies:
        count = {v: sum(r["generalizes"] == v for r in solved) for v in ("yes", "no", "n/a")}
        print(f"solved {len(solved)}/{len(rows)}, of which {count['yes']} generalise "
              f"({count['no']} do not, {count['n/a']} n/a: no usable reference); "
              f"{args.copies} perturbed copies, seed {args.seed}")
    print("command: python benchmarks/autopandas_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
