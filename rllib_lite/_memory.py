"""The memory check a run makes before it allocates: what it will need, part by part, against
what the system can allocate.

An algorithm lists its needs (:class:`Need`: the env copies, the rollout or replay storage, the
priority sum tree, the model with its gradients and Adam moments, ...), each sized from the
config and the spaces, and :func:`check_needs` refuses the run with a ``MemoryError`` naming
the settings behind the largest need when their total cannot be allocated. The sizes are meant
as floors (the arrays a run is known to make, not Python's overhead around them): a run the
check lets through can still run short, and one it refuses asks for more than the system can
allocate at all (RAM and swap under Linux's default overcommit, the address space otherwise).

The env copies are sized by :func:`make_env_measured`: the memory that building one copy
allocated, traced with ``tracemalloc`` (the env module's import is done first and left out).
The algorithm measures its probe env this way, and before refusing a run it measures a second
build, since a first build may fill caches that later copies share.
"""
from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from .rollout import EnvSpec, make_env


def size_text(size: int) -> str:
    """``1.42 PiB``: a byte count for people."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            return f"{value:.3g} {unit}"
        value /= 1024
    return f"{value:.3g} PiB"


@dataclass(frozen=True)
class Need:
    """Memory a run will allocate: ``what`` (for people), the settings that size it as
    ``"field=value"`` (those the user changed first), and its size in bytes."""

    what: str
    settings: tuple[str, ...]
    size: int


def settings(config: Any, *names: str) -> tuple[str, ...]:
    """``"field=value"`` for the named config fields that differ from the config class's
    defaults (the ones a user set), or for all of them when none does."""
    defaults = type(config)()
    changed = [n for n in names if getattr(config, n) != getattr(defaults, n)]
    return tuple(f"{n}={_value_text(getattr(config, n))}" for n in (changed or names))


def _value_text(value: Any) -> str:
    if isinstance(value, tuple):  # as the flag takes it: --hidden-sizes 64,64
        return ",".join(map(str, value))
    return str(value)


def can_allocate(size: int) -> bool:
    """Whether the system can allocate ``size`` bytes: a block of that size is allocated and
    freed untouched, which costs no physical memory and fails where the run's own allocations
    (of that much in all) would."""
    try:
        probe = np.empty(size, dtype=np.uint8)
    except (MemoryError, ValueError, OverflowError):  # past what an array may hold
        return False
    del probe
    return True


def check_needs(needs: Sequence[Need]) -> None:
    """Raise ``MemoryError`` naming the settings of the largest need when the needs' total
    cannot be allocated."""
    needs = [n for n in needs if n.size > 0]
    total = sum(n.size for n in needs)
    if not needs or can_allocate(total):
        return
    largest = max(needs, key=lambda n: n.size)
    named = " and ".join(largest.settings)
    verb = "needs" if len(largest.settings) == 1 else "need"
    parts = ", ".join(f"{n.what} {size_text(n.size)}" for n in sorted(needs, key=lambda n: -n.size))
    raise MemoryError(f"{named} {verb} {size_text(total)} of memory in all ({parts}), more than "
                      "this system can allocate")


def mlp_params(sizes: Sequence[int]) -> int:
    """Weights and biases of ``models.mlp(sizes)``."""
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def make_env_measured(env: EnvSpec, env_config: dict[str, Any]) -> tuple[gym.Env, int]:
    """``make_env(env, env_config)``, and the bytes building it allocated (and still holds)."""
    if isinstance(env, str):
        _import_entry_point(env)
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    try:
        made = make_env(env, env_config)
        size = tracemalloc.get_traced_memory()[0] - before
    finally:
        if not tracing:
            tracemalloc.stop()
    return made, max(size, 0)


def _import_entry_point(env_id: str) -> None:
    """Import the module a registered id's entry point names, so that its import is not
    counted as one env copy's memory; errors are left to ``make_env``, which reports them."""
    try:
        from . import envs as _examples  # noqa: F401  (registers the example envs)

        spec = gym.spec(env_id)
        if isinstance(spec.entry_point, str):
            gym.envs.registration.load_env_creator(spec.entry_point)
    except Exception:  # noqa: BLE001 - make_env raises the same error with its message
        return


def _proc_kib(path: str, key: str) -> int | None:
    """The ``key:  N kB`` figure of a Linux /proc file, in bytes; None where there is none."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def process_bytes() -> int | None:
    """This process's own memory (anonymous pages in RAM and swap: what another process like
    it takes, the shared libraries' file pages aside), Linux only; None elsewhere."""
    anon = _proc_kib("/proc/self/status", "RssAnon")
    return None if anon is None else anon + (_proc_kib("/proc/self/status", "VmSwap") or 0)


def available_bytes() -> int | None:
    """Memory new processes can take without another's being evicted: RAM available and free
    swap (Linux); None elsewhere."""
    avail = _proc_kib("/proc/meminfo", "MemAvailable")
    return None if avail is None else avail + (_proc_kib("/proc/meminfo", "SwapFree") or 0)


def check_worker_processes(num_workers: int, each: int, available: int | None) -> None:
    """Raise ``MemoryError`` naming ``num_rollout_workers`` when ``num_workers`` worker processes
    of ``each`` bytes (measured on the first, which is running and so is not in ``available``)
    do not fit; ``available`` None (unknown): no check."""
    if available is None or (num_workers - 1) * each <= available:
        return
    raise MemoryError(
        f"num_rollout_workers={num_workers} needs {size_text(num_workers * each)} for its worker "
        f"processes ({size_text(each)} each, measured on the first), more than this system has "
        f"available ({size_text(available + each)})")
