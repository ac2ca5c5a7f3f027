"""Command-line helpers shared by `python -m neurocuts` and the neurocuts benchmark.

argparse types that range-check a value (`int_in`, `float_in`, `positive_seconds`) and the parser whose
errors are one line (exit 2; `sysml_cli.OneLineParser`, shared by the toolkits' command lines), so every
neurocuts command line reports a bad option the same way.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from sysml_cli import OneLineParser as OneLineParser  # re-exported: the CLI's and benchmarks' parser

#: Upper bounds on a rule count (`gen --size`) and a packet count (`packets --count`, the benchmark's
#: packet options): about 6 GB and 15 GB of peak memory.
MAX_RULES = 10_000_000
MAX_PACKETS = 100_000_000
#: Default --max-nodes: about 1 GB while building (about 1 KB a node). HiCuts on a generated 3,000-rule
#: fw set (`gen --kind fw --size 3000`) is the algorithm's known blow-up on wildcard-heavy firewall rules,
#: not slow code (about 60 us of CPU a node): it had 2.4 million nodes in 2.3 GB after 170 s of CPU and
#: was still growing (the fw mix before it drew joint prefix lengths); at this budget it stops after 80 s
#: of CPU (the mix now). On the 24 published 1k/10k sets (builders following the NeuroCuts reference),
#: HiCuts passes it on seven 10k sets (acl2, the five fw, ipc1) and HyperCuts on six (acl2, the five fw),
#: after 23 to 80 s of build; EffiCuts stays under 420,000 (fw5_10k) and CutSplit under 20,000.
MAX_NODES = 1_000_000


def int_in(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in lo..hi (no upper bound when hi is None)."""
    def parse(text: str) -> int:
        value = int(text)  # a ValueError reads "invalid int value"
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {f'in {lo}..{hi}' if hi is not None else f'>= {lo}'}, "
                                             f"got {value}")
        return value
    parse.__name__ = "int"
    return parse


def float_in(lo: float, hi: float) -> Callable[[str], float]:
    """An argparse type: a finite number in lo..hi."""
    def parse(text: str) -> float:
        value = float(text)  # a ValueError reads "invalid float value"
        if not lo <= value <= hi:  # nan fails too
            raise argparse.ArgumentTypeError(f"must be in {lo:g}..{hi:g}, got {text}")
        return value
    parse.__name__ = "float"
    return parse


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0 (nan, inf and 0 would make a limit meaningless)."""
    value = float(text)  # a ValueError reads "invalid float value"
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text}")
    return value


positive_seconds.__name__ = "float"
