"""How far past `--time-limit` each builder runs before it gives up, on a large generated rule set.

For every builder: build with the limit, `--repeats` times, and report the median wall seconds from
the call to the BuildTimeout (or to the finished tree) and the overshoot past the limit. Reading the
rules is not counted, as `build --time-limit` does not count it.

    python benchmarks/neurocuts_time_limit.py [--kind fw] [--size 100000] [--limit 2] [--repeats 3]
"""
from __future__ import annotations

import os
import statistics
import sys
import time

from neurocuts import BUILDERS, BuildTimeout, build, parse_rules
from neurocuts.argtypes import MAX_RULES, OneLineParser, int_in, positive_seconds


def main() -> int:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", default="fw", choices=("acl", "fw", "ipc"), help="generated family (default fw)")
    ap.add_argument("--size", type=int_in(1, MAX_RULES), default=100_000, help="rules (default 100000)")
    ap.add_argument("--limit", type=positive_seconds, default=2.0, help="build limit in seconds (default 2)")
    ap.add_argument("--repeats", type=int_in(1, 100), default=3, help="builds per builder (default 3)")
    args = ap.parse_args()
    from sysml_datasets.classbench import GeneratorConfig, generate_text
    rules = parse_rules(generate_text(GeneratorConfig(args.kind, args.size, 1)))
    print(f"{args.kind} {len(rules)} rules, limit {args.limit:g} s, median of {args.repeats}, "
          f"load {os.getloadavg()[0]:.2f}\n")
    print("| algo | outcome | median s | overshoot s |\n|---|---|---|---|")
    for algo in BUILDERS:
        secs, outcome = [], "finished"
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            try:
                build(rules, algo, 16, args.limit)
            except BuildTimeout:
                outcome = "timeout"
            secs.append(time.perf_counter() - t0)
        med = statistics.median(secs)
        print(f"| {algo} | {outcome} | {med:.2f} | {med - args.limit:+.2f} |")
    print(f"\ncommand: {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
