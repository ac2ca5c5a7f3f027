"""Hard bounds for a whole search: a forked worker with an address-space cap, killed past its deadline.

The sandbox's bounds are soft: its alarm is a Python signal, which lands between bytecodes, so one
C-level loop (a sort, a merge, a string concatenation) runs to its end however long it takes; and
its memory guard is an estimate made before a call. :func:`run_isolated` adds the two hard bounds
the operating system offers, for the command line:

- memory: the worker's address space (``RLIMIT_AS``) is capped at what it had at the fork plus
  ``headroom`` bytes (None: no cap), so an allocation past it fails with ``MemoryError`` inside
  the candidate call that made it (the sandbox counts that call as failed and the search goes on);
- time: the parent waits for the result until ``deadline`` and then kills the worker
  (``SIGKILL`` cannot be deferred by a C loop), raising :class:`WorkerTimeout`; a result that is
  in the pipe by then is read, not discarded. A parent that is itself killed takes the worker
  with it (``PR_SET_PDEATHSIG``, Linux); a Ctrl-C (``KeyboardInterrupt``) in the parent kills
  the worker before it propagates, wherever it lands: from before the fork until the parent is
  inside the ``try`` that kills the worker, SIGINT's handler only notes the signal, which is
  raised again in that ``try``. (Blocking SIGINT with ``pthread_sigmask`` would not do: it
  blocks one thread, and pandas and pyarrow start others, which then take the signal.)

The worker is forked, so it starts with the parent's inputs and imports (no pickling of frames,
no second interpreter start: about 20 to 40 ms a search, measured with the benchmark tasks). Only
the result comes back, pickled. Where ``fork`` or ``RLIMIT_AS`` do not exist, ``fn`` runs in the
calling process, with the sandbox's soft bounds only.
"""
from __future__ import annotations

import ctypes
import logging
import os
import pickle
import select
import signal
import threading
import time
from typing import Any, Callable

log = logging.getLogger(__name__)

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]

_PR_SET_PDEATHSIG = 1
_RLIM_MAX = (1 << 63) - 1                           # setrlimit takes a signed 64-bit limit

#: Address space a worker may add to what it had when forked, by default (pandas and pyarrow
#: reserve about 1.2 GB of it for thread pools and arenas they may start during the search).
HEADROOM_BYTES = 4 << 30
#: How long past a search's own time limit its worker may run before it is killed: the search
#: stops itself at the limit, between bytecodes; only a C loop inside one call keeps it running.
KILL_GRACE_S = 1.0
#: Once a result has begun to arrive, how long past the deadline the rest of it may take: the
#: worker has finished by then, only the pipe is left (a result larger than its buffer).
_DRAIN_S = 5.0
#: Longest single wait for the worker's output: ``select`` overflows past about 9e9 s (the
#: platform's time_t), and a ``--timeout`` may be larger; a longer deadline waits in turns.
_LONGEST_WAIT_S = 1e6


class WorkerTimeout(Exception):
    """The worker was still running at its deadline and was killed."""


class WorkerDied(Exception):
    """The worker ended without a result (a signal, or an abort in C code)."""


def available() -> bool:
    """Whether workers can be forked with a memory cap here (Linux and the like)."""
    return hasattr(os, "fork") and resource is not None and hasattr(resource, "RLIMIT_AS") \
        and os.path.exists("/proc/self/statm")


def run_isolated(fn: Callable[[], Any], deadline: float,
                 headroom: int | None = HEADROOM_BYTES) -> Any:
    """``fn()`` in a forked worker capped at ``headroom`` more bytes of address space (None: no
    cap), killed at ``deadline`` (a ``time.monotonic()`` time). Returns its value or raises what
    it raised (an exception that cannot be pickled comes back as a RuntimeError naming it);
    raises :class:`WorkerTimeout` or :class:`WorkerDied` otherwise."""
    if headroom is not None and (isinstance(headroom, bool) or not isinstance(headroom, int)
                                 or headroom <= 0):
        raise ValueError(f"headroom must be a whole number of bytes > 0 or None, got {headroom!r}")
    if not available():
        return fn()
    parent = os.getpid()
    # Ctrl-C is held from here until the parent is inside the try below: a KeyboardInterrupt
    # raised between the fork and that try would leave the worker running.
    held = _hold_ctrl_c()
    try:
        r, w = os.pipe()
        try:
            pid = os.fork()
        except BaseException:
            os.close(r)
            os.close(w)
            raise
    except BaseException:
        _release_ctrl_c(held)
        raise
    if pid == 0:                                    # the worker: never returns
        os.close(r)
        _work(fn, w, headroom, parent)
    os.close(w)
    reaped = False
    try:
        _release_ctrl_c(held)                       # a Ctrl-C held since the fork is raised here
        data = _read_until(r, deadline)
        _, status = os.waitpid(pid, 0)
        reaped = True
    except BaseException:
        if not reaped:
            _kill(pid)                              # Ctrl-C, the deadline: the worker goes too
        raise
    finally:
        os.close(r)
    if not data:
        how = _signal_name(os.WTERMSIG(status)) if os.WIFSIGNALED(status) else \
            f"exit code {os.waitstatus_to_exitcode(status)}"
        raise WorkerDied(f"the search worker ended without a result ({how})")
    kind, value = pickle.loads(data)
    if kind == "raise":
        raise value
    return value


def _hold_ctrl_c() -> tuple[Any, list] | None:
    """Swap SIGINT's handler for one that only notes the signal; returns what
    :func:`_release_ctrl_c` needs. Off the main thread there is nothing to hold: Python runs
    signal handlers, KeyboardInterrupt included, on the main thread only."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is None:      # None: a handler set from C, kept
        return None
    noted: list = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    return previous, noted


def _release_ctrl_c(held: tuple[Any, list] | None) -> None:
    """Put SIGINT's handler back and, if a Ctrl-C came meanwhile, raise the signal again so
    that the handler (``KeyboardInterrupt`` by default) runs now."""
    if held is None:
        return
    previous, noted = held
    signal.signal(signal.SIGINT, previous)
    if noted:
        signal.raise_signal(signal.SIGINT)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass                                        # reaped already


def _work(fn: Callable[[], Any], w: int, headroom: int | None, parent: int) -> None:
    status = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to report
        _die_with_parent(parent)
        if headroom is not None:
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            cap = _address_space() + headroom
            if hard != resource.RLIM_INFINITY:
                cap = min(cap, hard)                # a soft limit may not pass the hard one
            elif cap > _RLIM_MAX:
                cap = resource.RLIM_INFINITY        # more than setrlimit takes: no cap at all
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
        try:
            out = ("value", fn())
        except BaseException as e:  # noqa: BLE001 - the parent re-raises it
            out = ("raise", e)
        with os.fdopen(w, "wb") as f:
            f.write(_encode(out))
        status = 0
    finally:
        os._exit(status)                            # no atexit handlers, no parent's cleanup


def _encode(out: tuple[str, Any]) -> bytes:
    """``out`` pickled and loaded back once to be sure the parent can: an exception whose
    ``__init__`` takes other arguments than its ``args`` pickles but fails to load. What cannot
    make the trip becomes a RuntimeError naming it."""
    try:
        data = pickle.dumps(out)
        pickle.loads(data)
        return data
    except Exception as e:  # noqa: BLE001 - an unpicklable value or exception
        kind, value = out
        what = f"{type(value).__name__}: {value}" if kind == "raise" else type(value).__name__
        return pickle.dumps(("raise", RuntimeError(f"{what} (unpicklable: {e})")))


def _read_until(fd: int, deadline: float) -> bytes:
    """The worker's whole output. Past ``deadline`` the pipe is still looked at once (a result
    written just before it is taken), and a result that has begun to arrive gets ``_DRAIN_S``
    more to finish."""
    chunks = []
    while True:
        left = max(deadline - time.monotonic(), 0.0)
        if not select.select([fd], [], [], min(left, _LONGEST_WAIT_S))[0]:
            if left > _LONGEST_WAIT_S:
                continue
            raise WorkerTimeout("the search worker was still running at the time limit")
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        if not chunks:
            deadline = max(deadline, time.monotonic() + _DRAIN_S)
        chunks.append(chunk)


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when its parent dies (Linux ``PR_SET_PDEATHSIG``): a
    killed command must not leave its search running, stuck in a C loop or not."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        log.debug("no prctl: the search worker outlives a killed parent until its deadline")
    if os.getppid() != parent:                      # the parent died before prctl took effect
        os._exit(1)


def _signal_name(number: int) -> str:
    try:
        return f"signal {number}, {signal.Signals(number).name}"
    except ValueError:
        return f"signal {number}"


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
