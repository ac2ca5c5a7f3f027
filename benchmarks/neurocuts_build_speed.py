"""Build speed of two revisions of neurocuts side by side, checking that they build the same trees.

For every set and algorithm, `--repeats` rounds each build the tree once with the baseline and once
with the current code (this checkout), each in its own fresh process, alternating so that load on
a shared machine falls on both alike. The figure is the build's process CPU seconds (reading the
rules not counted); the table gives the medians and old / new. Every build's tree, as `to_json`
writes it less `build_s`, is hashed: a tree that differs between the two is reported and the exit
status is 1.

    python benchmarks/neurocuts_build_speed.py --baseline HEAD~3 --sets fw5_1k,fw3_1k \
        --algos hicuts,hypercuts [--repeats 3] [--shared ../shared]

`--sets` and `--algos` take comma-separated names, as `neurocuts_baselines.py`'s do (names
separated by spaces work too); a set is a rule file's path or a name under `--shared`'s
`classbench/` (the shared data folder: `$SYSML_SHARED`, else `../shared` beside the repo).

`--baseline` is a checkout's folder (holding neurocuts/) or a git revision of this repository,
checked out for the run with `git worktree` and removed after it.
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from neurocuts import BUILDERS
from neurocuts.argtypes import OneLineParser, int_in

#: Run in a fresh process with the revision's folder first on sys.path: one build, one JSON line.
WORKER = """
import hashlib, json, sys, time
sys.path.insert(0, sys.argv[1])
import neurocuts
from neurocuts.tree import to_json
rules = neurocuts.load_rules(sys.argv[2])
t0 = time.process_time()
tree = neurocuts.build(rules, sys.argv[3])
cpu = time.process_time() - t0
doc = to_json(tree)
doc.pop("build_s")
digest = hashlib.sha256(json.dumps(doc, separators=(",", ":")).encode()).hexdigest()
print(json.dumps({"cpu": cpu, "nodes": len(doc["nodes"]), "sha": digest, "file": neurocuts.__file__}))
"""


class BuildFailed(RuntimeError):
    """A build by one of the two checkouts failed; `root` is that checkout's folder."""

    def __init__(self, message: str, root: Path) -> None:
        super().__init__(message)
        self.root = root


def run_build(root: Path, rules: Path, algo: str) -> dict:
    """One build by the neurocuts under `root`, in its own process: cpu seconds, nodes, tree hash.
    Raises BuildFailed when the build fails (a baseline without the builder, or unable to read the set)."""
    r = subprocess.run([sys.executable, "-c", WORKER, str(root), str(rules), algo], capture_output=True,
                       text=True, cwd=root, check=False, env={**os.environ, "PYTHONPATH": str(root)})
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
        raise BuildFailed(f"{algo} on {rules.name} under {root} failed: {last}", root)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if not Path(out["file"]).resolve().is_relative_to(root.resolve()):
        raise BuildFailed(f"the build under {root} imported {out['file']}", root)
    return out


def baseline_root(spec: str, scratch: Path) -> Path:
    """The baseline checkout: `spec` itself when it is a folder holding neurocuts/, else a git
    worktree of revision `spec` under `scratch`. Raises ValueError when it is neither."""
    path = Path(spec)
    if path.is_dir():
        if not (path / "neurocuts" / "__init__.py").is_file():
            raise ValueError(f"--baseline {spec}: folder has no neurocuts/ package")
        return path.resolve()
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}"],
                         capture_output=True, text=True, check=False)
    if rev.returncode != 0:
        raise ValueError(f"--baseline {spec}: neither a folder nor a git revision of {REPO}")
    root = scratch / "baseline"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(root), rev.stdout.strip()],
                   check=True, capture_output=True)
    return root


def parse_args(argv: list[str] | None = None):
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, help="old revision: a checkout's folder or a git revision")
    ap.add_argument("--sets", nargs="+", required=True,
                    help="comma-separated rule files: names under --shared's classbench/, or paths")
    ap.add_argument("--algos", nargs="+", default=["hicuts,hypercuts"],
                    help=f"comma-separated builders to time, of {', '.join(sorted(BUILDERS))} "
                    "(default hicuts,hypercuts)")
    ap.add_argument("--repeats", type=int_in(1, 100), default=3, help="builds per revision, set and algo (default 3)")
    ap.add_argument("--shared", default=os.environ.get("SYSML_SHARED", str(REPO.parent / "shared")),
                    help="shared data folder, whose classbench/ holds the published sets (default: "
                    "$SYSML_SHARED, else ../shared beside the repo)")
    args = ap.parse_args(argv)
    args.sets = [n for v in args.sets for n in v.split(",") if n.strip()]
    args.algos = [n.strip() for v in args.algos for n in v.split(",") if n.strip()]
    for algo in args.algos:
        if algo not in BUILDERS:
            ap.error(f"argument --algos: invalid choice: {algo!r} (choose from {', '.join(sorted(BUILDERS))})")
    if not args.sets or not args.algos:
        ap.error("--sets and --algos need at least one name each")
    files = []
    for name in args.sets:
        path = Path(name) if Path(name).is_file() else Path(args.shared) / "classbench" / name
        if not path.is_file():
            ap.error(f"--sets: no rule file {name} (nor {path})")
        files.append(path)
    args.files = files
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nc_speed_") as tmp:
        worktree = Path(tmp) / "baseline"
        try:
            try:
                old_root = baseline_root(args.baseline, Path(tmp))
            except ValueError as exc:
                print(f"neurocuts_build_speed.py: error: {exc}", file=sys.stderr)
                return 2
            try:
                return compare(args, old_root)
            except BuildFailed as exc:
                # The baseline's failure is the --baseline given (bad input); this checkout's, an error.
                print(f"neurocuts_build_speed.py: error: {exc}", file=sys.stderr)
                return 2 if exc.root == old_root else 1
        finally:
            # However the run ends (an interrupt may come as soon as `git worktree add` has made it),
            # the worktree goes before its folder does, or git would keep listing it.
            if worktree.exists():
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)],
                               check=False, capture_output=True)


def _terminated(signum, _frame) -> None:
    """SIGTERM or SIGHUP (a killed job, a closed terminal) ends the run as Ctrl-C does: through
    main's clean-up, which a signal's default action would skip."""
    raise SystemExit(128 + signum)


def compare(args, old_root: Path) -> int:
    """Time every (set, algo) under both revisions and print the table; 1 when any tree differs."""
    print(f"baseline {old_root}, current {REPO}; median process CPU s of {args.repeats}, "
          f"load {os.getloadavg()[0]:.2f}\n")
    print("| set | algo | nodes | old s | new s | old/new | trees |\n|---|---|---|---|---|---|---|")
    differ = False
    for path in args.files:
        for algo in args.algos:
            old, new = [], []
            for _ in range(args.repeats):
                old.append(run_build(old_root, path, algo))
                new.append(run_build(REPO, path, algo))
            same = len({b["sha"] for b in old + new}) == 1
            differ |= not same
            o, n = statistics.median(b["cpu"] for b in old), statistics.median(b["cpu"] for b in new)
            print(f"| {path.name} | {algo} | {new[0]['nodes']} | {o:.2f} | {n:.2f} | {o / n:.2f} | "
                  f"{'identical' if same else 'DIFFER'} |", flush=True)
    print(f"\ncommand: {' '.join([Path(sys.argv[0]).name] + sys.argv[1:])}")
    return 1 if differ else 0


if __name__ == "__main__":
    for _sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(_sig, _terminated)
    sys.exit(main())
