"""Helpers the deepquery test modules share: the tiny database config, the command line in a
subprocess, the one-line error check, a second process holding a DuckDB file open for writing, and
a single-threaded ``run_plan``."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from sysml_datasets.imdb import ImdbConfig

TINY = ImdbConfig(scale=0.0005, seed=3, witnesses=False)
TINY_FLAGS = ["--scale", "0.0005", "--seed", "3", "--no-witnesses"]


REPO = Path(__file__).resolve().parents[2]


def deepquery_cli(*args: str, cache: Path, **env: str) -> subprocess.CompletedProcess:
    """``python -m deepquery ARGS --cache-dir CACHE`` in a subprocess (``$SYSML_CACHE`` is CACHE
    too, and ``env`` adds variables), never raising for its exit code."""
    return subprocess.run([sys.executable, "-m", "deepquery", *args, "--cache-dir", str(cache)],
                          cwd=REPO, env=dict(os.environ, SYSML_CACHE=str(cache), **env),
                          capture_output=True, text=True, timeout=120, check=False)


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
