"""Serialisation: cloudpickle with pickle protocol 5 out-of-band buffers.

A *value* is the wire and store form of an object, a small tuple:

* ``("i", data, buffers)``: inline, carried on the control channel (small objects);
* ``("s", path, size, data_len, spans)``: in one shared-memory file written once, read zero-copy
  by every reader through a read-only ``mmap`` (numpy arrays come back read-only);
* ``("e", payload)``: a task error; ``payload`` pickles ``(cause, traceback_text, function_name)``;
* ``("x", payload)``: a runtime error (actor died, worker crashed, cancelled), pickled.
"""
from __future__ import annotations

import errno
import mmap
import os
import pickle
import sys
from typing import Any

import cloudpickle

from .exceptions import DeserializationError, RuntimeBaseError, text_of
from .object_ref import collecting

INLINE_MAX = 100 * 1024
_ALIGN = 64
_SIMPLE = (type(None), bool, int, float, str, bytes)


def dumps(obj: Any) -> tuple[bytes, list[pickle.PickleBuffer], list[int]]:
    """``(data, out_of_band_buffers, ids_of_contained_refs)``."""
    if type(obj) in _SIMPLE:
        return pickle.dumps(obj, 5), [], []
    bufs: list[pickle.PickleBuffer] = []
    with collecting() as c:
        data = cloudpickle.dumps(obj, protocol=5, buffer_callback=bufs.append)
    return data, bufs, c.oids


def dumps_plain(obj: Any) -> bytes:
    """In-band cloudpickle, for functions and classes."""
    return cloudpickle.dumps(obj, protocol=5)


def make_value(obj: Any, shm_path: str | None,
               spill: tuple[str, int] | None = None) -> tuple[tuple, list[int]]:
    """The value of ``obj``: inline when small, else written into a new file at ``shm_path``
    (or in the spill folder: see ``value_path``)."""
    data, bufs, contained = dumps(obj)
    raws = [b.raw() for b in bufs]
    path = value_path(data, raws, shm_path, spill)
    if path is None:
        return inline_value(data, raws), contained
    return write_shm(path, data, raws), contained


def value_path(data: bytes, raws: list[memoryview], shm_path: str | None,
               spill: tuple[str, int] | None = None) -> str | None:
    """Where the value of these pieces goes: None (inline) when small or without ``shm_path``;
    else ``shm_path``, or, with ``spill = (folder, cap)``, a file of the same name in
    ``folder`` on disk when it is larger than ``cap`` (the whole store), as if spilled at once.
    The one placement rule of the driver's ``put``, workers and the inline backend."""
    if shm_path is None or fits_inline(data, raws):
        return None
    if spill is not None and shm_size(data, raws) > spill[1]:
        return f"{spill[0]}/{os.path.basename(shm_path)}"
    return shm_path


def fits_inline(data: bytes, raws: list[memoryview]) -> bool:
    """Whether these pieces travel inline, on the control channel (``value_path``'s rule)."""
    return len(data) + sum(r.nbytes for r in raws) <= INLINE_MAX


def inline_value(data: bytes, raws: list[memoryview]) -> tuple:
    """The ``("i", ...)`` value of these pieces (the buffers copied out)."""
    return ("i", data, [bytes(r) for r in raws])


def split_returns(result: Any, num_returns: int, name: str) -> list[Any]:
    """The outputs of a task that returned ``result``: one per ``num_returns``."""
    if num_returns == 1:
        return [result]
    if num_returns == 0:
        return []
    if not isinstance(result, (tuple, list)) or len(result) != num_returns:
        raise ValueError(f"{name} returned {type(result).__name__}, expected a tuple of "
                         f"num_returns={num_returns} values")
    return list(result)


def make_results(outs: list[Any], paths: list[str | None], name: str,
                 spill: tuple[str, int] | None = None) -> list[tuple[tuple, list[int]]]:
    """The values of a task's outputs (``make_value`` of each at its path); if one cannot be
    stored, the files written for the others are removed, and a pickling failure becomes a
    ``TypeError`` naming the task."""
    values: list[tuple[tuple, list[int]]] = []
    try:
        for r, path in zip(outs, paths):
            values.append(make_value(r, path, spill))
    except BaseException as e:
        discard([v for v, _ in values])
        if isinstance(e, (pickle.PicklingError, TypeError, AttributeError)):
            from .exceptions import text_of
            raise TypeError(f"could not serialize the result of {name}: "
                            f"{type(e).__name__}: {text_of(e)}") from None
        raise
    return values


def shm_size(data: bytes, raws: list[memoryview]) -> int:
    """Bytes ``write_shm`` will write for these pieces."""
    off = len(data)
    for r in raws:
        off += -off % _ALIGN + r.nbytes
    return off


def write_shm(path: str, data: bytes, raws: list[memoryview], reuse: bool = False) -> tuple:
    """Write ``data`` and the buffers once into a file (new, or a recycled one when ``reuse``);
    return its ``("s", ...)`` value."""
    spans = []
    pieces: list[Any] = [data]
    off = len(data)
    for r in raws:
        pad = -off % _ALIGN
        if pad:
            pieces.append(bytes(pad))
            off += pad
        spans.append((off, r.nbytes))
        pieces.append(r)
        off += r.nbytes
    try:
        fd = os.open(path, os.O_WRONLY if reuse else os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:  # left by a run of the same task whose worker died: replace it
        os.unlink(path)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        for p in pieces:
            mv = memoryview(p).cast("B")
            while mv.nbytes:
                n = os.write(fd, mv)
                mv = mv[n:]
    except OSError as e:
        # a partial segment would hold shared memory (or disk) for the rest of the session
        os.close(fd)
        fd = -1
        if not reuse:
            unlink_quiet(path)
        if e.errno in _FULL_ERRNOS:
            from .exceptions import ObjectStoreFullError
            raise ObjectStoreFullError(
                f"could not store an object of {off / 2**20:.1f} MiB in "
                f"{os.path.dirname(path)}: {e.strerror}; drop refs to objects you no longer "
                "need, or make room there (with init(object_store_memory=N), objects larger "
                "than N go to disk)") from None
        raise
    finally:
        if fd >= 0:
            os.close(fd)
    return ("s", path, off, len(data), spans)


_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.ENOMEM, errno.EDQUOT}


def unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def discard(values: list[tuple]) -> None:
    """Remove the shared-memory files of values that will never be stored."""
    for v in values:
        if v[0] == "s":
            unlink_quiet(v[1])


def _layout(data: bytes, raws: list[memoryview]) -> tuple[list[tuple[int, int]], int]:
    spans = []
    off = len(data)
    for r in raws:
        off += -off % _ALIGN
        spans.append((off, r.nbytes))
        off += r.nbytes
    return spans, off


# The pages of a recycled file exist already: mapping them all at once (MAP_POPULATE) costs a
# fraction of taking one page fault per 4 KiB on the first write into them.
_POPULATE = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)


def map_writable(path: str, size: int) -> mmap.mmap:
    """A writable shared mapping of a whole (recycled) file, its pages mapped in up front."""
    fd = os.open(path, os.O_RDWR)
    try:
        return mmap.mmap(fd, size, flags=_POPULATE)
    finally:
        os.close(fd)


def write_mapped(path: str, wmm: mmap.mmap, data: bytes, raws: list[memoryview]) -> tuple:
    """Like ``write_shm`` into a recycled file through the driver's long-lived mapping: its pages
    are already faulted in, so the write runs at memcpy speed."""
    spans, end = _layout(data, raws)
    wmm[:len(data)] = data
    for (off, n), r in zip(spans, raws):
        r = r.cast("B") if r.format != "B" or r.ndim != 1 else r
        if n >= _PAR_MIN and "numpy" in sys.modules:
            _parallel_copy(wmm, off, r)
        else:
            wmm[off:off + n] = r
    return ("s", path, end, len(data), spans)


# Large buffers are copied in a few slices on threads, as Ray's put does: numpy's copy releases
# the GIL, so the slices run at once (a slice assignment into an mmap holds the GIL).
_PAR_MIN = 16 << 20
_PAR_WAYS = max(1, min(4, os.cpu_count() or 1))
_pool: Any = None


def _parallel_copy(wmm: mmap.mmap, off: int, src: memoryview) -> None:
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor
        _pool = ThreadPoolExecutor(_PAR_WAYS - 1 or 1, thread_name_prefix="runtime-copy")
    n = src.nbytes
    step = -(-n // _PAR_WAYS)
    futs = [_pool.submit(_copy_slice, wmm, off, src, i, min(i + step, n))
            for i in range(step, n, step)]
    _copy_slice(wmm, off, src, 0, min(step, n))
    for f in futs:
        f.result()


def _copy_slice(wmm: mmap.mmap, off: int, src: memoryview, a: int, b: int) -> None:
    """Copy ``src[a:b]`` into the mapping at ``off + a``; the views die before this returns, so
    nothing holds the mapping's buffer once the caller has every result."""
    import numpy as np
    np.copyto(np.frombuffer(wmm, np.uint8, b - a, off + a), np.frombuffer(src, np.uint8)[a:b])


def map_shm(value: tuple) -> mmap.mmap:
    """A read-only mapping of a shared-memory value's file."""
    fd = os.open(value[1], os.O_RDONLY)
    try:
        return mmap.mmap(fd, value[2], prot=mmap.PROT_READ)
    finally:
        os.close(fd)


def load_value(value: tuple, mapping: mmap.mmap | None = None) -> Any:
    """Rebuild the object; raises the stored error for error values."""
    kind = value[0]
    if kind == "i":
        bufs = value[2]
        return _unpickle(value[1], bufs or None)
    if kind == "s":
        mv = memoryview(mapping if mapping is not None else map_shm(value))
        bufs = [mv[o:o + n] for o, n in value[4]]
        return _unpickle(mv[:value[3]], bufs)
    raise error_of(value)


def _unpickle(data: Any, buffers: Any, what: str = "an object") -> Any:
    """``pickle.loads``; what it raises (a class this process cannot import, a ``__reduce__``
    whose function raises) becomes a ``DeserializationError`` saying so, as Ray's
    ``RaySystemError``: the runtime's own errors (a cancel landing meanwhile) pass."""
    try:
        return pickle.loads(data, buffers=buffers)
    except RuntimeBaseError:
        raise
    except Exception as e:
        raise DeserializationError(
            f"{what} could not be unpickled in this process (pid {os.getpid()}): "
            f"{type(e).__name__}: {text_of(e)}; the classes it holds must be importable here, "
            "and unpickling it must not raise", cause=e) from e


def error_of(value: tuple) -> BaseException:
    """The exception an error value stands for."""
    from .exceptions import as_instanceof_cause
    if value[0] == "e":
        cause, tb, name = _unpickle(value[1], None, "a task's exception")
        return as_instanceof_cause(cause, tb, name)
    return _unpickle(value[1], None, "a runtime error")


def constructor_error(value: tuple, what: str = "its constructor raised"
                      ) -> tuple[str, BaseException | None]:
    """Why an actor whose constructor failed with error ``value`` died, and the exception
    behind it (the ``cause`` of its ``ActorDiedError``): the user's, not its ``TaskError``."""
    from .exceptions import TaskError, text_of
    try:
        err = error_of(value)
    except Exception as e:  # noqa: BLE001 - unpickling it here ran its class's own code
        why = f"{what}: an exception the driver could not load ({type(e).__name__}: {text_of(e)})"
        return why, None
    return f"{what}: {err}", err.cause if isinstance(err, TaskError) else err


def error_value(exc: BaseException, tb_text: str, function_name: str) -> tuple:
    """The ``("e", ...)`` value of an exception raised by user code."""
    from .exceptions import TaskError, text_of
    if isinstance(exc, TaskError):
        tb_text = f"{exc.traceback_str}\n(re-raised in {function_name})\n{tb_text}"
        function_name, exc = exc.function_name, exc.cause  # type: ignore[assignment]
    try:
        payload = cloudpickle.dumps((exc, tb_text, function_name), protocol=5)
        pickle.loads(payload)
    except Exception:
        stand_in = RuntimeError(f"{type(exc).__name__}: {text_of(exc)} (original exception not "
                                "picklable)")
        payload = cloudpickle.dumps((stand_in, tb_text, function_name), protocol=5)
    return ("e", payload)


def system_error_value(exc: BaseException) -> tuple:
    """The ``("x", ...)`` value of a runtime error such as ``ActorDiedError``. Its ``cause``
    (a user's exception) goes by value when plain pickle cannot name its class, and becomes a
    ``RuntimeError`` stand-in when it cannot be pickled at all, as in ``error_value``."""
    cause = getattr(exc, "cause", None)
    if cause is None:
        return ("x", pickle.dumps(exc, 5))
    try:
        payload = cloudpickle.dumps(exc, protocol=5)
        pickle.loads(payload)
    except Exception:
        from .exceptions import text_of
        exc.cause = RuntimeError(  # type: ignore[attr-defined]
            f"{type(cause).__name__}: {text_of(cause)} (original exception not picklable)")
        payload = cloudpickle.dumps(exc, protocol=5)
    return ("x", payload)


class DepSlot:
    """Stands in a task's pickled arguments for the value of top-level ``ObjectRef`` number ``i``."""

    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i

    def __reduce__(self) -> Any:
        return (DepSlot, (self.i,))


def resolve_args(args_val: tuple | None, dep_vals: list[tuple],
                 load: Any = None) -> tuple[tuple, dict]:
    """The ``(args, kwargs)`` of a task, with its resolved dependencies filled in."""
    if args_val is None:
        return (), {}
    args, kwargs = load_value(args_val)
    if kwargs is None:
        kwargs = {}
    if dep_vals:
        vals = [(load or load_value)(v) for v in dep_vals]
        args = tuple(vals[a.i] if type(a) is DepSlot else a for a in args)
        if kwargs:
            kwargs = {k: (vals[v.i] if type(v) is DepSlot else v) for k, v in kwargs.items()}
    return args, kwargs
