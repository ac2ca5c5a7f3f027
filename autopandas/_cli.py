"""Argument parsing shared by ``python -m autopandas`` and ``benchmarks/autopandas_bench.py``.

A mistake on the command line is bad input: one line on stderr and exit code 2, not argparse's
usage block (``--help`` still prints it in full).
"""
from __future__ import annotations

import argparse
import math
import re
import sys

from sysml_cli import OneLineParser as OneLineParser  # re-exported: the CLI's and benchmarks' parser
from sysml_cli import one_line

from .search import DEPTHS, DEPTHS_TEXT


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0 (``nan`` and ``inf`` would lift the limit)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text!r}")
    return value


def chain_depth(text: str) -> int:
    """argparse type for ``--max-depth``: one of ``search.DEPTHS``, so that a bad value is reported
    under the option's name (``SearchConfig`` would name its field, ``max_depth``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value not in DEPTHS:
        raise argparse.ArgumentTypeError(f"must be {DEPTHS_TEXT}, got {text!r}")
    return value


MAX_CONSTANT_CHARS = 1000


def constant(text: str) -> int | float | str:
    """argparse type for ``--constant``: a value the task gives (a filter's threshold, an ``isin``
    list's item, a factor). Never evaluated: a whole number is an int, another finite number a
    float, text in matching quotes (``"'100'"``) that text, anything else the text as given.
    A number is written as a CSV file holds one, in ASCII digits without '_': int() and float()
    also read '1_000' and other scripts' digits ('١٢'), which pandas reads from a CSV as text."""
    if len(text) > MAX_CONSTANT_CHARS:
        raise argparse.ArgumentTypeError(f"longer than {MAX_CONSTANT_CHARS} characters")
    stripped = text.strip()
    if stripped.isascii() and "_" not in stripped:
        try:
            return int(stripped)
        except ValueError:
            pass
        try:
            value = float(stripped)
        except ValueError:
            pass
        else:
            if not math.isfinite(value):
                raise argparse.ArgumentTypeError(f"not a finite number: {text!r} (quote it to give text)")
            return value
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
        return stripped[1:-1]
    return text


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)


def memory_limit(text: str) -> int | None:
    """argparse type for ``--memory-limit``: a size > 0 in bytes with an optional binary unit
    (``512M``, ``4G``, ``1.5GiB``, ``65536K``; a bare number is bytes), or ``none`` for no cap
    (None)."""
    if text.strip().lower() == "none":
        return None
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"not a size such as 512M, 4G or none: {text!r}")
    size = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if size == math.inf:  # past float's range: as any size past what setrlimit takes, no cap
        return None
    value = int(size)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a size > 0 (or none), got {text!r}")
    return value


def fail(prog: str, message: str) -> int:
    """Print one error line for ``prog`` on stderr; returns the bad-input exit code."""
    print(f"{prog}: error: {one_line(message)}", file=sys.stderr)
    return 2
