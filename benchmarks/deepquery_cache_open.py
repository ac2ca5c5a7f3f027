"""What the true-cardinality cache's reads cost: opening a full file, and a get while another
process writes.

:class:`deepquery._card_cache.CardinalityCache` checks a file when it opens it by counting every
row (``SELECT count(*) FROM cards``: a damaged page raises there, and the file is moved aside
instead of failing each run). This times the open of a file as full as pruning lets it grow (8
databases of a JOB ``--cards true`` run's ~41k counts each) with and without that count. A get
waits (up to 30 s) only while another process commits; this times gets while a second process
puts and flushes as fast as it can (a batch of 200 every few ms, far more often than a planning
run, which computes each count first).

    python benchmarks/deepquery_cache_open.py [--counts 41000] [--seconds 4] [--repeat 20]
"""
from __future__ import annotations

import argparse
import math
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deepquery._card_cache import KEEP_FINGERPRINTS, CardinalityCache
from deepquery._cli import OneLineParser


def _sql(i: int) -> str:
    """A count's key text, as long as a small JOB sub-query's."""
    return (f"SELECT count(*) FROM movie_companies AS mc{i}, title AS t WHERE "
            f"mc{i}.movie_id = t.id AND t.production_year > {i}")


def _fill(path: Path, counts: int) -> None:
    cache = CardinalityCache(path, flush_every=5000)
    for f in range(KEEP_FINGERPRINTS):
        for i in range(counts):
            cache.put(f"fp{f}", _sql(i), float(i))
    cache.close()


def _writer(path: Path, seconds: float) -> None:
    """Put and flush (every 200 puts) for ``seconds``: the other process."""
    cache = CardinalityCache(path)
    end, i = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        cache.put("fp-writer", f"SELECT {i}", 1.0)
        i += 1
    cache.close()


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.3f} ms, max {max(values) * 1000:.2f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(error_name="deepquery_cache_open", description=__doc__.splitlines()[0])
    ap.add_argument("--counts", type=int, default=41_000,
                    help=f"counts per database, {KEEP_FINGERPRINTS} databases (default 41000)")
    ap.add_argument("--seconds", type=float, default=4.0,
                    help="how long gets run beside the writer (default 4)")
    ap.add_argument("--repeat", type=int, default=20, help="opens timed (default 20)")
    ap.add_argument("--writer", help=argparse.SUPPRESS)  # the second process: its file
    args = ap.parse_args(argv)
    if args.counts < 1 or args.repeat < 1 or not 0 < args.seconds < math.inf:
        print("deepquery_cache_open: error: --counts and --repeat must be >= 1, --seconds > 0 "
              "(and finite)", file=sys.stderr)
        return 2
    if args.writer:
        _writer(Path(args.writer), args.seconds + 2)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "true_cards.sqlite"
        _fill(path, args.counts)
        print(f"file: {KEEP_FINGERPRINTS} databases x {args.counts} counts, "
              f"{path.stat().st_size / 2**20:.1f} MiB (in the page cache)")
        opens, checks = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            CardinalityCache(path).close()
            opens.append(time.perf_counter() - t)
            con = sqlite3.connect(str(path))
            t = time.perf_counter()
            con.execute("SELECT count(*) FROM cards").fetchone()
            checks.append(time.perf_counter() - t)
            con.close()
        print(f"  open (CardinalityCache, then close): {_ms(opens)}")
        print(f"  of which the check, count(*) of every row: {_ms(checks)}")
        writer = subprocess.Popen([sys.executable, __file__, "--writer", str(path),
                                   "--seconds", str(args.seconds)])
        try:
            time.sleep(1.0)  # the writer's open and first flushes
            cache = CardinalityCache(path)
            gets, end, i = [], time.monotonic() + args.seconds, 0
            while not gets or time.monotonic() < end:  # one get at least, however short
                t = time.perf_counter()
                cache.get(f"fp{i % KEEP_FINGERPRINTS}", _sql(i % args.counts))
                gets.append(time.perf_counter() - t)
                i += 1
            cache.close()
        finally:
            writer.wait()
        gets.sort()
        p99, p999 = gets[int(len(gets) * 0.99)], gets[int(len(gets) * 0.999)]
        print(f"  {len(gets)} gets beside a writer: {_ms(gets)}, p99 {p99 * 1000:.3f} ms, "
              f"p99.9 {p999 * 1000:.2f} ms")
    print(f"command: python benchmarks/deepquery_cache_open.py --counts {args.counts} "
          f"--seconds {args.seconds:g} --repeat {args.repeat}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
