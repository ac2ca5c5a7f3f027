"""File gates shared by the runtime's tests: what a task or an actor call runs to hold until
the test lets it go (``held``) or to say it got there (``touch``), and what the test waits with
(``wait_for_file``). Module-level, so that the workers of either backend import them by name."""
from __future__ import annotations

import os
import time
from typing import Any

LIMIT_S = 60.0  # no gate or file is waited for longer: a broken test fails, it does not hang


def touch(path: str | os.PathLike) -> None:
    open(path, "w").close()


def held(gate: str | os.PathLike, x: Any = "held") -> Any:
    """``x``, once the file ``gate`` exists (or LIMIT_S has passed): a task body, or a call's."""
    deadline = time.monotonic() + LIMIT_S
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
    return x


def wait_for_file(path: str | os.PathLike, what: str | None = None) -> None:
    """Wait until the file ``path`` exists (a task's sign that it got there); an
    AssertionError naming ``what`` (or the path) after LIMIT_S."""
    deadline = time.monotonic() + LIMIT_S
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{what or path} never appeared"
        time.sleep(0.01)


def peak_of_gated_calls(rt: Any, actor: Any, n: int, limit: int, folder: Any) -> int:
    """How many of ``n`` calls ``actor.run(i, folder)`` ran at once at most (the actor's
    ``peak_now()``), on an actor that should run ``limit`` at once: each call touches
    ``started-i`` in ``folder`` and then holds until ``folder/go`` exists. The gate opens once
    ``limit`` calls have started and half a second more has passed, time for others to start
    were the limit not kept; every call must return its ``i``."""
    refs = [actor.run.remote(i, str(folder)) for i in range(n)]
    deadline = time.monotonic() + LIMIT_S
    while len([f for f in os.listdir(folder) if f.startswith("started-")]) < limit:
        assert time.monotonic() < deadline, f"{limit} calls never started"
        time.sleep(0.01)
    time.sleep(0.5)
    touch(os.path.join(folder, "go"))
    assert rt.get(refs, timeout=LIMIT_S) == list(range(n))
    # peak_now is a call too: it runs after the others, or the peak is counted without it
    return rt.get(actor.peak_now.remote(), timeout=LIMIT_S)
