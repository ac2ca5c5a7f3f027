"""Isolated execution of candidate calls: exceptions, warnings, blow-ups and slow calls are contained.

A search tries tens of thousands of candidate calls, most of them wrong, so execution must be
both safe and cheap. One :class:`Sandbox` is entered once per search (installing the warning
filter, numpy's error state and a SIGALRM handler once) and then runs each candidate with
:meth:`Sandbox.run`, which returns an :class:`Outcome` instead of raising.

Containment, and why each piece is chosen:

- exceptions: anything deriving from ``Exception`` (plus ``RecursionError``/``MemoryError``) is
  caught and reported as a failed outcome;
- warnings: ignored for the whole session (pandas warns about deprecations and chained
  assignment; a warning never makes a candidate wrong);
- a per-call time limit: a signal-based alarm (``setitimer``), two syscalls per call, far cheaper
  than shipping frames to a worker process. The alarm raises :class:`CallTimeout`, a
  ``BaseException`` so pandas' internal ``except Exception`` blocks cannot swallow it. Signals are
  only delivered to the main thread between bytecodes, so off the main thread there is no alarm
  (logged once) and long C-level loops finish before the alarm lands: hence the next point;
- a session deadline (:meth:`Sandbox.until`): inside it each call's limit is cut to the time left,
  and between calls the alarm stays armed for the time left, so the caller's own work (argument
  generation, hashing, comparing) is stopped too: :class:`CallTimeout` is raised in the caller's
  code when the deadline passes, and the caller catches it outside the ``with`` block;
- a lost alarm: Python ignores an exception raised in a gc callback or a finaliser (``__del__``,
  a weakref callback), so a :class:`CallTimeout` landing there is lost. A call is timed out by the
  clock too, and the search checks its deadline itself, so none is missed; the session's
  ``sys.unraisablehook`` drops those lost CallTimeouts (the default hook printed each as
  "Exception ignored in ..." with a traceback) and passes every other exception on;
- pathological inputs: DSL functions that can multiply sizes (merge, cross join, pivot, unstack,
  stack, melt, concat) call :func:`guard_cells` with an *estimate* before running, and every
  result larger than ``max_cells`` is rejected after running.

Only whitelisted code runs: the sandbox executes the DSL's own Python functions (see ``dsl.py``),
which call fixed pandas methods with arguments drawn from the data; no user text is evaluated,
and there is no file, network or shell access in any of them.
"""
from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


#: Longest session deadline :meth:`Sandbox.until` arms the alarm for (about 11 days): setitimer
#: raises OverflowError past about 9e9 s (Python's int64 nanoseconds), and a ``--timeout`` may be larger.
_LONGEST_ALARM_S = 1e6


class CallTimeout(BaseException):
    """A candidate call ran past the per-call time limit (BaseException: pandas can't swallow it)."""


class Blowup(Exception):
    """A candidate call would produce (or produced) more cells than the limit allows."""


@dataclass(frozen=True)
class Outcome:
    """What one sandboxed call gave: a value, or the reason it failed."""

    ok: bool
    value: Any = None
    error: str = ""
    killed: bool = False
    """The run was stopped from outside the program rather than failing in it: its worker was
    killed at a hard time limit or died (``generalize.isolated_runner``); ``error`` says which.
    Told by this field, not by the error text, which a program's own exception may copy."""


_local = threading.local()


def max_cells() -> int:
    """The active sandbox's cell limit (or a default outside any sandbox)."""
    return getattr(_local, "max_cells", 1_000_000)


def guard_cells(estimate: float, what: str) -> None:
    """Raise :class:`Blowup` before running a call whose estimated output is too big."""
    limit = max_cells()
    if estimate > limit:
        raise Blowup(f"{what}: estimated {int(estimate)} cells > limit {limit}")


def estimate_merge_rows(left: pd.DataFrame, right: pd.DataFrame, left_on: list, right_on: list,
                        how: str) -> int:
    """Rows a merge would produce, from key value counts (exact for inner; an upper bound else)."""
    if how == "cross":
        return len(left) * len(right)
    lk = left[left_on].astype(object).apply(tuple, axis=1) if len(left_on) > 1 else left[left_on[0]]
    rk = right[right_on].astype(object).apply(tuple, axis=1) if len(right_on) > 1 else right[right_on[0]]
    lc, rc = lk.value_counts(dropna=False), rk.value_counts(dropna=False)
    common = lc.index.intersection(rc.index)
    inner = int((lc[common] * rc[common]).sum()) if len(common) else 0
    return inner + len(left) + len(right)


def text_sum_cells(obj: Any, group_sizes: Any = None) -> float:
    """Characters a running sum of ``obj``'s text columns would hold (cumsum, a group-by's
    cumsum or ``transform('sum')``): row i of a group of g rows holds i strings, so a group
    costs about g**2 / 2 times the mean length. Quadratic: 300,000 one-letter rows make 45 GB,
    which the alarm cannot stop (one C loop). Numbers cost nothing here."""
    cols = [obj] if isinstance(obj, pd.Series) else [obj.iloc[:, i] for i in range(obj.shape[1])]
    text = [c for c in cols if not pd.api.types.is_numeric_dtype(c.dtype)
            and not pd.api.types.is_bool_dtype(c.dtype)]
    if not text:
        return 0.0
    sizes = np.asarray([len(obj)] if group_sizes is None else group_sizes, dtype="float64")
    pairs = float((sizes * (sizes + 1) / 2).sum())
    total = 0.0
    for c in text:
        sample = c.dropna().head(1000)
        mean = float(np.mean([len(str(v)) for v in sample])) if len(sample) else 0.0
        total += pairs * max(mean, 1.0)
    return total


def _size(value: Any) -> int:
    if isinstance(value, (pd.DataFrame, pd.Series, np.ndarray)):
        return int(np.prod(value.shape)) if value.ndim else 1
    return 1


class Sandbox:
    """A session for running many candidate calls safely; use as a context manager."""

    def __init__(self, time_limit_s: float = 1.0, max_cells: int = 1_000_000) -> None:
        if not (math.isfinite(time_limit_s) and time_limit_s > 0):  # NaN fails `<= 0` too
            raise ValueError(f"time_limit_s must be a finite number > 0, got {time_limit_s}")
        if not (math.isfinite(max_cells) and max_cells > 0):
            raise ValueError(f"max_cells must be a finite number > 0, got {max_cells}")
        self.time_limit_s = time_limit_s
        self.max_cells = max_cells
        self.counts = {"ok": 0, "error": 0, "timeout": 0, "blowup": 0}
        self._alarm = False
        self._old_handler: Any = None
        self._old_unraisable: Any = None
        self._warn_ctx: Any = None
        self._np_ctx: Any = None
        self._old_cells: Any = None
        self._deadline: float | None = None

    def __enter__(self) -> Sandbox:
        self._warn_ctx = warnings.catch_warnings()
        self._warn_ctx.__enter__()
        warnings.simplefilter("ignore")
        self._np_ctx = np.errstate(all="ignore")
        self._np_ctx.__enter__()
        self._old_cells = getattr(_local, "max_cells", None)
        _local.max_cells = self.max_cells
        if threading.current_thread() is threading.main_thread():
            self._old_handler = signal.signal(signal.SIGALRM, _on_alarm)
            self._old_unraisable = sys.unraisablehook
            sys.unraisablehook = _LostAlarms(self._old_unraisable)
            self._alarm = True
        else:
            log.warning("sandbox off the main thread: no per-call time limit")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old_handler)
            sys.unraisablehook = self._old_unraisable
            self._alarm = False
        if self._old_cells is None:
            del _local.max_cells
        else:
            _local.max_cells = self._old_cells
        self._np_ctx.__exit__(*exc)
        self._warn_ctx.__exit__(*exc)

    @contextlib.contextmanager
    def until(self, deadline: float) -> Iterator[None]:
        """Keep the alarm armed until ``deadline`` (a ``time.monotonic()`` time) while in the block:
        :class:`CallTimeout` is raised wherever the block is when it passes (calls made with
        :meth:`run` still return a timed-out :class:`Outcome`). Off the main thread there is no
        alarm: the caller's own deadline checks are all there is; nor is there for a deadline too
        far away for ``setitimer`` (past ``_LONGEST_ALARM_S``, where it would overflow). On the
        main thread too a caller needs its own checks: an alarm that lands in a gc callback or
        a finaliser is lost (module docstring)."""
        if not self._alarm or deadline - time.monotonic() > _LONGEST_ALARM_S:
            yield
            return
        self._deadline = deadline
        _arm(deadline - time.monotonic())
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._deadline = None

    def run(self, fn: Callable[..., Any], *args: Any) -> Outcome:
        """Call ``fn(*args)``; never raises for what the call does (only for KeyboardInterrupt, and
        for :class:`CallTimeout` when an :meth:`until` deadline passes after the call)."""
        if self._deadline is None:
            return self._run(self.time_limit_s, fn, args)
        try:
            return self._run(min(self.time_limit_s, self._deadline - time.monotonic()), fn, args)
        finally:
            # Re-armed only now: an alarm firing inside _run would be taken for the call's.
            _arm(self._deadline - time.monotonic())

    def _run(self, limit: float, fn: Callable[..., Any], args: tuple) -> Outcome:
        try:
            if self._alarm:
                ends = time.monotonic() + limit
                _arm(limit)
            try:
                value = fn(*args)
            finally:
                if self._alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            # the alarm's CallTimeout can be lost: raised in a gc callback or a __del__, Python
            # prints "Exception ignored" and the call goes on; past its limit it timed out all the same
            if self._alarm and time.monotonic() >= ends:
                raise CallTimeout()
        except CallTimeout:
            self.counts["timeout"] += 1
            return Outcome(False, error="timeout")
        except Blowup as e:
            self.counts["blowup"] += 1
            return Outcome(False, error=str(e))
        except (Exception, RecursionError, MemoryError) as e:  # noqa: BLE001 - containment is the point
            self.counts["error"] += 1
            return Outcome(False, error=f"{type(e).__name__}: {e}"[:200])
        if _size(value) > self.max_cells:
            self.counts["blowup"] += 1
            return Outcome(False, error=f"result has {_size(value)} cells > limit {self.max_cells}")
        self.counts["ok"] += 1
        return Outcome(True, value)


def _arm(seconds: float) -> None:
    # setitimer(0) disarms: a limit already spent must still fire, at once
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-6))


def _on_alarm(signum: int, frame: Any) -> None:
    raise CallTimeout()


class _LostAlarms:
    """A session's ``sys.unraisablehook``: drops the alarm's CallTimeout that Python ignored in a
    gc callback or a finaliser (the clock checks count it), passes anything else to ``previous``."""

    def __init__(self, previous: Callable[[Any], Any]) -> None:
        self.previous = previous

    def __call__(self, unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, CallTimeout):
            log.debug("the alarm was lost in a gc callback or finaliser: the clock checks count it")
            return
        self.previous(unraisable)
