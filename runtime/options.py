"""Validated options for ``@remote`` functions and actor classes (frozen dataclasses).

``replace(**opts)`` is what ``.options(...)`` calls: unknown names and bad values raise one
``ValueError`` that names the option.
"""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_CONCURRENCY = 1000  # Ray's default for async actors (other actors: 1)


def is_async_class(cls: Any) -> bool:
    """Whether ``cls`` makes an async actor: it has an ``async def`` method (Ray's test)."""
    for k in dir(cls):
        v = inspect.getattr_static(cls, k, None)
        if isinstance(v, (staticmethod, classmethod)):
            v = v.__func__
        if inspect.iscoroutinefunction(v) or inspect.isasyncgenfunction(v):
            return True
    return False


def _int(name: str, v: Any, lo: int) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise ValueError(f"option {name}={v!r}: must be an integer >= {lo}")


def _num(name: str, v: Any, lo: float) -> None:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not v >= lo:  # NaN too
        raise ValueError(f"option {name}={v!r}: must be a number >= {lo}")


class _Replace:
    def replace(self, **opts: Any) -> Any:
        names = {f.name for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        bad = sorted(set(opts) - names)
        if bad:
            raise ValueError(f"unknown option(s) {bad}; valid options: {sorted(names)}")
        return dataclasses.replace(self, **opts)  # type: ignore[type-var]


@dataclass(frozen=True)
class TaskOptions(_Replace):
    """Options of a remote function."""

    num_cpus: float = 1
    """CPUs the task holds while it runs."""
    num_gpus: float = 0
    """Must be 0: this runtime schedules CPUs only."""
    num_returns: int = 1
    """How many ObjectRefs ``.remote`` returns (the function returns that many values)."""
    max_retries: int = 3
    """Re-runs after the worker process dies (-1: forever)."""
    retry_exceptions: bool = False
    """Also retry when the task raises."""
    name: str | None = None
    """Name shown in errors and the timeline (default: the function's name)."""

    def __post_init__(self) -> None:
        _num("num_cpus", self.num_cpus, 0)
        if self.num_gpus:
            raise ValueError(f"option num_gpus={self.num_gpus!r}: this runtime has no GPUs; "
                             "use num_gpus=0")
        _int("num_returns", self.num_returns, 0)
        _int("max_retries", self.max_retries, -1)
        if not isinstance(self.retry_exceptions, bool):
            raise ValueError(f"option retry_exceptions={self.retry_exceptions!r}: must be a bool")
        if self.name is not None and not isinstance(self.name, str):
            raise ValueError(f"option name={self.name!r}: must be a string")


@dataclass(frozen=True)
class ActorOptions(_Replace):
    """Options of an actor class."""

    num_cpus: float = 0
    """CPUs the actor holds; actors run in their own process, outside the task pool."""
    num_gpus: float = 0
    """Must be 0: this runtime schedules CPUs only."""
    name: str | None = None
    """Register the actor under this name for ``get_actor``."""
    get_if_exists: bool = False
    """With ``name``: return the live actor of that name instead of failing."""
    max_restarts: int = 0
    """Restarts after the actor's process dies (-1: forever)."""
    max_task_retries: int = 0
    """Retries of a call that was running when the actor died."""
    max_concurrency: int | None = None
    """Calls running at once: on an async actor (one with an ``async def`` method) as asyncio
    tasks (None: 1000, Ray's default); on another actor, above 1, each on a thread (a threaded
    actor, its calls in no set order); None or 1: one at a time, in order."""
    lifetime: str | None = None
    """Accepted for Ray compatibility: None or "detached" (actors live until kill/shutdown)."""
    namespace: str | None = None
    """Accepted for Ray compatibility; there is one namespace."""

    def __post_init__(self) -> None:
        _num("num_cpus", self.num_cpus, 0)
        if self.num_gpus:
            raise ValueError(f"option num_gpus={self.num_gpus!r}: this runtime has no GPUs; "
                             "use num_gpus=0")
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise ValueError(f"option name={self.name!r}: must be a non-empty string")
        if self.get_if_exists and self.name is None:  # Ray's ValueError too
            raise ValueError("option get_if_exists=True needs the actor's name: "
                             "options(name=..., get_if_exists=True)")
        _int("max_restarts", self.max_restarts, -1)
        _int("max_task_retries", self.max_task_retries, -1)
        if self.max_concurrency is not None:
            _int("max_concurrency", self.max_concurrency, 1)
        if self.lifetime not in (None, "detached"):
            raise ValueError(f"option lifetime={self.lifetime!r}: must be None or 'detached'")
