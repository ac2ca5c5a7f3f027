"""Rule generation time (`generate_text`) of this checkout, side by side with another version's.

The other version is a folder holding its `datasets/` package, e.g. one revision's, made with
`git archive <rev> datasets | tar -x -C /tmp/base`. Both run in this process, alternately, `--repeats`
times per set; the table gives the median seconds, the ratio and whether the two texts are the same
(byte for byte, and as sets of 5-tuples, flags and order aside).

With --text-only, only the writing of the text is timed, in CPU seconds (steadier than wall time on a
loaded machine): the rules are drawn once by this checkout and both versions format those same rules.

    python benchmarks/neurocuts_gen.py --baseline /tmp/base [--kinds acl,fw,ipc] [--sizes 100000] [--repeats 3]
    python benchmarks/neurocuts_gen.py --baseline /tmp/base --text-only
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

from neurocuts.argtypes import MAX_RULES, OneLineParser, int_in


def _baseline(folder: str) -> object:
    """The classbench package under `folder`/datasets, imported under its own name."""
    init = Path(folder) / "datasets" / "classbench" / "__init__.py"
    if not init.is_file():
        raise argparse.ArgumentTypeError(f"no {init}")
    spec = importlib.util.spec_from_file_location("baseline_classbench", init,
                                                  submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _names(allowed: tuple[str, ...]):
    def parse(text: str) -> list[str]:
        names = [n for n in text.split(",") if n]
        bad = [n for n in names if n not in allowed]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"unknown {bad[0]!r}" if bad else "none given")
        return names
    return parse


def _tuples(text: str) -> list[str]:
    return sorted("\t".join(line.split("\t")[:5]) for line in text.splitlines())


def main() -> int:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=_baseline, required=True,
                    help="folder holding the other version's datasets/ package")
    ap.add_argument("--kinds", type=_names(("acl", "fw", "ipc")), default=["acl", "fw", "ipc"],
                    help="comma-separated families (default acl,fw,ipc)")
    ap.add_argument("--sizes", type=lambda t: [int_in(1, MAX_RULES)(v) for v in t.split(",")], default=[100_000],
                    help="comma-separated rule counts (default 100000)")
    ap.add_argument("--seed", type=int_in(0), default=1, help="generator seed (default 1)")
    ap.add_argument("--repeats", type=int_in(1, 100), default=3, help="runs per set and version (default 3)")
    ap.add_argument("--text-only", action="store_true",
                    help="time only the text formatting of the same drawn rules, in CPU seconds (default: "
                         "the whole generate_text, wall seconds)")
    args = ap.parse_args()
    from sysml_datasets import classbench as current
    clock = time.process_time if args.text_only else time.perf_counter
    print(f"median of {args.repeats}{', text formatting only, CPU seconds' if args.text_only else ''}, "
          f"load {os.getloadavg()[0]:.2f} at start\n")
    print("| set | baseline s | this s | baseline / this | same text | same 5-tuples |\n|---|---|---|---|---|---|")
    for kind in args.kinds:
        for size in args.sizes:
            secs: dict[str, list[float]] = {"base": [], "this": []}
            texts = {}
            versions = (("base", args.baseline), ("this", current))
            drawn = current.generate_rules(current.GeneratorConfig(kind, size, args.seed)) if args.text_only else None
            for i in range(args.repeats):  # which runs first alternates, so neither always finds caches warm
                for name, pkg in versions[::-1] if i % 2 else versions:
                    gen = pkg._generator
                    draw = gen.generate_rules
                    if drawn is not None:  # generate_text looks generate_rules up in its module when called
                        gen.generate_rules = lambda config: drawn  # noqa: B023 (called inside this iteration)
                    try:
                        t0 = clock()
                        texts[name] = pkg.generate_text(pkg.GeneratorConfig(kind, size, args.seed))
                        secs[name].append(clock() - t0)
                    finally:
                        gen.generate_rules = draw
            base, this = statistics.median(secs["base"]), statistics.median(secs["this"])
            print(f"| {kind} {size} | {base:.3f} | {this:.3f} | {base / this:.2f} | "
                  f"{texts['base'] == texts['this']} | {_tuples(texts['base']) == _tuples(texts['this'])} |")
    print(f"\nload {os.getloadavg()[0]:.2f} at end; command: {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
