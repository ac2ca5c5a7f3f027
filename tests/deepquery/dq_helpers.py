"""Helpers the deepquery test modules share: the tiny database config, the one-line error check,
a second process holding a DuckDB file open for writing, and a single-threaded ``run_plan``."""
from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from sysml_datasets.imdb import ImdbConfig

TINY = ImdbConfig(scale=0.0005, seed=3, witnesses=False)
TINY_FLAGS = ["--scale", "0.0005", "--seed", "3", "--no-witnesses"]


def one_line(stderr: str) -> str:
    """The single line a bad-input error prints; fails on a traceback or several lines."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@contextlib.contextmanager
def held_open_for_writing(path: Path) -> Iterator[None]:
    """Another process holds ``path`` open in DuckDB (read-write) while the block runs."""
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
                                "print('ready', flush=True); sys.stdin.read()"), str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


def run_plan_single_threaded(monkeypatch) -> None:
    """Make the CLI's ``run`` execute with one DuckDB thread (a deterministic row order)."""
    import deepquery.__main__ as cli
    real = cli.run_plan

    def one_thread(con, *args, **kwargs):
        con.execute("SET threads = 1")
        return real(con, *args, **kwargs)
    monkeypatch.setattr(cli, "run_plan", one_thread)
