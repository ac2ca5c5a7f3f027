"""Async and threaded actors in their worker process: one asyncio event loop runs many calls.

An actor class with an ``async def`` method is an *async actor* (Ray's rule). Its process runs
one event loop, on its main thread, which reads the driver's messages (``add_reader``) and runs
each call as an asyncio task: up to ``max_concurrency`` at once (Ray's default 1000), started
in the order they were sent. An ``await`` in one call lets the others run; a sync method runs on
the loop too and holds it until it returns, as in Ray. A call's states here::

    QUEUED   (``Worker.queue``) --fewer than max_concurrency run--> RUNNING (an asyncio task)
    QUEUED   --cancelled (its id on the cancel pipe)-->  done: TaskCancelledError, never started
    RUNNING  --returns or raises-->                      done: its result or its error
    RUNNING  --cancelled-->                              the asyncio task is cancelled: the
                                                         coroutine gets CancelledError at its
                                                         ``await`` (asyncio's semantics, as Ray),
                                                         and if that ends it, TaskCancelledError

A *threaded actor* (Ray's name: no ``async def`` method, ``max_concurrency`` above 1) is served
by the same loop, but each call's method runs on a thread of a pool of ``max_concurrency``
threads, the loop awaiting it; its calls run in no set order (as in Ray), and a running one is
never interrupted by a cancel (Ray's rule for actors that are not async), so a threaded call
goes RUNNING --returns or raises--> done only.

The driver never signals an actor's process: it writes a cancelled call's id to the cancel
pipe, which the loop watches. API calls from a coroutine (``get``, ``.remote()``) block the loop
until answered, as a blocking ``ray.get`` does in a Ray async actor.
"""
from __future__ import annotations

import asyncio
import threading
import time
import traceback
import types
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .exceptions import TaskCancelledError
from .serialization import (error_value, make_results, resolve_args, split_returns,
                            system_error_value)

if TYPE_CHECKING:
    from .worker import Worker


class AsyncActorLoop:
    """The event loop of an async or threaded actor's process and the calls running on it."""

    def __init__(self, worker: Worker, max_concurrency: int,
                 spill: tuple[str, int] | None, threaded: bool = False) -> None:
        self.w = worker
        self.limit = max_concurrency
        self.spill = spill
        # a threaded actor's methods run on these threads (made as calls need them)
        self.pool = (ThreadPoolExecutor(max_concurrency, thread_name_prefix="actor-call")
                     if threaded else None)
        # made before the constructor runs, so that what it schedules on
        # ``asyncio.get_event_loop()`` runs on the loop of the calls
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.running: dict[int, asyncio.Task] = {}
        # calls whose asyncio task has taken its first step: only those are cancelled through
        # it (one cancelled before would end without running a line, so without reporting);
        # the others see their cancel as they start
        self.stepped: set[int] = set()
        self.cancelling: set[int] = set()  # running calls whose asyncio task was cancelled
        self.wake: asyncio.Event | None = None
        self.turns = 0  # how often the loop has looked for work (read by tests)

    def notify(self) -> None:
        """Wake the loop (a call was queued, a call ended); from any thread."""
        if self.wake is None:
            return
        if threading.get_ident() == self.w._main_ident:
            self.wake.set()
        else:
            try:
                self.loop.call_soon_threadsafe(self.wake.set)
            except RuntimeError:  # the loop is closed: the process is leaving
                pass

    def serve(self, threads: int, side_s: float) -> None:
        """Run the calls until the driver goes; ``threads``: the process's own thread count
        (more: threads the user's code started, whose refs are reported every ``side_s``)."""
        try:
            self.loop.run_until_complete(self._serve(threads, side_s))
        finally:
            self.wake = None

    async def _serve(self, threads: int, side_s: float) -> None:
        w = self.w
        loop = asyncio.get_running_loop()
        self.wake = wake = asyncio.Event()
        sock = w.chan.sock.fileno()
        watching = False  # the socket, for the loop to read (else another thread reads it)
        if w.cancel_fd >= 0:
            loop.add_reader(w.cancel_fd, wake.set)
        try:
            while True:
                self.turns += 1
                wake.clear()
                if w._take_reading(False):
                    if not watching:
                        loop.add_reader(sock, wake.set)
                        watching = True
                    try:
                        w._read(False, blocked=False)
                    except EOFError:
                        return
                elif watching:
                    # another thread (an ``await ref``, a thread of the user's) reads the
                    # socket, waiting for its reply: it queues the calls it reads (``notify``)
                    # and wakes the loop as it stops reading (``Worker._read``)
                    loop.remove_reader(sock)
                    watching = False
                w.take_cancels()
                running = self.stepped if self.pool is None else ()  # threaded: not interrupted
                for tid in w.cancelled.intersection(running):
                    if tid not in self.cancelling:
                        self.cancelling.add(tid)
                        self.running[tid].cancel()
                while w.queue and len(self.running) < self.limit:
                    m = w.queue.popleft()
                    if m[0] == "call":
                        self.running[m[1]] = loop.create_task(self._call(m))
                    else:  # nothing else is queued in an actor once it is constructed
                        w.run(m)
                w.flush()
                if threading.active_count() > threads:
                    try:
                        await asyncio.wait_for(wake.wait(), side_s)
                    except asyncio.TimeoutError:  # noqa: UP041 - not TimeoutError on 3.10
                        pass
                else:
                    await wake.wait()
        finally:
            if watching:
                loop.remove_reader(sock)
            if w.cancel_fd >= 0:
                loop.remove_reader(w.cancel_fd)

    async def _call(self, m: tuple) -> None:
        """Run call ``m`` (a ``call`` message) and queue its ``done``."""
        w = self.w
        _, tid, method, args_val, dep_vals, roids, name = m
        self.stepped.add(tid)
        wall0 = time.time()
        t0 = time.perf_counter()
        ok = True
        try:
            w.current = tid
            try:
                args, kwargs = resolve_args(args_val, dep_vals, w.load)
                w.take_cancels()
                if tid in w.cancelled:
                    raise TaskCancelledError("the call was cancelled before it started")
                fn = getattr(w.actor, method)
                if self.pool is not None:
                    w.current = None  # the loop runs the runtime's own code meanwhile
                    result = await asyncio.get_running_loop().run_in_executor(
                        self.pool, _in_thread, w, tid, fn, args, kwargs)
                else:
                    result = fn(*args, **kwargs)
                del fn, args, kwargs
                if asyncio.iscoroutine(result):
                    result = await _as_current(w, tid, result)
                    w.current = tid
                outs = split_returns(result, len(roids), name)
                del result
                values = make_results(outs, [w.shm_path(o, tid) for o in roids], name,
                                      self.spill)
                del outs
            finally:
                w.current = None
        except (asyncio.CancelledError, TaskCancelledError):
            ok = False
            err = system_error_value(TaskCancelledError(f"{name} was cancelled"))
            values = [(err, []) for _ in roids] if roids else [(err, [])]
        except BaseException as e:  # noqa: BLE001 - every user error goes back to the caller
            ok = False
            err = error_value(e, traceback.format_exc(), name)
            values = [(err, []) for _ in roids] if roids else [(err, [])]
        finally:
            self.running.pop(tid, None)
            self.stepped.discard(tid)
            self.cancelling.discard(tid)
            w.cancelled.discard(tid)
        w._done(("done", tid, values, time.perf_counter() - t0, ok, wall0))
        self.notify()


def _in_thread(w: Worker, tid: int, fn: Any, args: tuple, kwargs: dict) -> Any:
    """Run a threaded actor's call ``tid`` on this pool thread; the tasks it submits are its
    children (``Worker.submit`` reads ``w.calls``)."""
    w.calls.tid = tid
    try:
        return fn(*args, **kwargs)
    finally:
        w.calls.tid = None


@types.coroutine
def _as_current(w: Worker, tid: int, coro: Any) -> Generator[Any, Any, Any]:
    """Await ``coro`` with ``w.current`` set to ``tid`` while each of its steps runs: the tasks
    it submits are that call's children (``cancel(recursive=True)``), whichever call ran before.
    A cancel of the asyncio task is thrown into ``coro`` at its ``await``, as ``await`` would."""
    send: Any = None
    err: BaseException | None = None
    while True:
        w.current = tid
        try:
            step = coro.send(send) if err is None else coro.throw(err)
        except StopIteration as e:
            return e.value
        finally:
            w.current = None
        try:
            send, err = (yield step), None
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as e:  # noqa: BLE001 - a cancel (or throw) goes into the call
            send, err = None, e
