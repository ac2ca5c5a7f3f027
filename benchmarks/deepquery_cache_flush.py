"""What the true-cardinality cache's fingerprint bookkeeping costs per flush, against the flush.

Each flush of :class:`deepquery._card_cache.CardinalityCache` that writes puts also marks every
fingerprint the cache has used (``_mark``: one INSERT OR REPLACE into ``fingerprints`` and one
SELECT of the fingerprints past ``KEEP_FINGERPRINTS``; a DELETE from ``cards`` only for a
fingerprint that is pruned). This puts as many counts as a JOB ``--cards true`` run of all 113
queries makes (about 41k, one database) into a fresh cache file that already lists 8 other
databases, and prints the time in ``_mark`` next to the time of the whole writes.

    python benchmarks/deepquery_cache_flush.py [--puts 41000] [--flush-every 200] [--repeat 3]
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from deepquery._card_cache import KEEP_FINGERPRINTS, CardinalityCache
from deepquery._cli import OneLineParser


def _run(path: Path, puts: int, flush_every: int) -> tuple[float, list[float], list[float]]:
    """Seconds for ``puts`` puts and the close, and the seconds of each write and each mark."""
    seed = CardinalityCache(path)
    for i in range(KEEP_FINGERPRINTS):  # other databases already in the shared cache file
        seed.put(f"other{i}", "SELECT 1", 1.0)
    seed.close()
    writes: list[float] = []
    marks: list[float] = []
    real_write, real_mark = CardinalityCache._write, CardinalityCache._mark

    def write(self, wait_s):
        t = time.perf_counter()
        try:
            return real_write(self, wait_s)
        finally:
            writes.append(time.perf_counter() - t)

    def mark(self, fingerprint, used):
        t = time.perf_counter()
        try:
            return real_mark(self, fingerprint, used)
        finally:
            marks.append(time.perf_counter() - t)

    CardinalityCache._write, CardinalityCache._mark = write, mark
    try:
        t = time.perf_counter()
        cache = CardinalityCache(path, flush_every=flush_every)
        for i in range(puts):
            cache.put("fp-job", f"SELECT {i}", float(i))
        cache.close()
        return time.perf_counter() - t, writes, marks
    finally:
        CardinalityCache._write, CardinalityCache._mark = real_write, real_mark


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(error_name="deepquery_cache_flush", description=__doc__.splitlines()[0])
    ap.add_argument("--puts", type=int, default=41_000, help="counts put (default 41000)")
    ap.add_argument("--flush-every", type=int, default=200,
                    help="puts per flush (default 200, the cache's default)")
    ap.add_argument("--repeat", type=int, default=3, help="runs, each on a new file (default 3)")
    args = ap.parse_args(argv)
    if args.puts < 1 or args.flush_every < 1 or args.repeat < 1:
        print("deepquery_cache_flush: error: --puts, --flush-every and --repeat must be >= 1",
              file=sys.stderr)
        return 2
    print(f"{args.puts} puts on one database, a flush every {args.flush_every}, "
          f"{KEEP_FINGERPRINTS} other databases in the file")
    for r in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            total, writes, marks = _run(Path(folder) / "true_cards.sqlite", args.puts,
                                        args.flush_every)
        print(f"  run {r + 1}: {total * 1000:7.1f} ms in all; {len(writes)} writes "
              f"{sum(writes) * 1000:7.1f} ms (median {statistics.median(writes) * 1000:.2f} ms); "
              f"_mark {len(marks)} calls {sum(marks) * 1000:5.1f} ms "
              f"(median {statistics.median(marks) * 1e6:.0f} us, "
              f"{100 * sum(marks) / sum(writes):.1f}% of the writes)")
    print(f"command: python benchmarks/deepquery_cache_flush.py --puts {args.puts} "
          f"--flush-every {args.flush_every} --repeat {args.repeat}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
