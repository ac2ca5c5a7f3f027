"""Control channel between the driver and a worker: length-prefixed frames on a Unix socket.

A frame is ``8-byte little-endian length + pickle(list of messages)``: several messages travel in
one frame and one ``recv`` syscall may return many frames, so bursts cost few syscalls. Messages
are plain tuples whose first item is a short tag (see ``driver`` and ``worker``).
"""
from __future__ import annotations

import pickle
import socket
import struct
import threading
from collections import deque
from typing import Any

# 8 bytes: a frame may pass 4 GiB (a task's get() of many small objects is one reply, and the
# calls an actor's queue releases at once are one frame)
_HDR = struct.Struct("<Q")
_RECV = 1 << 18


class Channel:
    """One end of a framed socket; ``send`` is thread-safe, ``recv`` is for one reader."""

    __slots__ = ("sock", "_buf", "_lock", "outbox", "closed")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = bytearray()
        self._lock = threading.Lock()
        self.outbox: deque[tuple] = deque()
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, msgs: list[tuple]) -> None:
        payload = pickle.dumps(msgs, 5)
        with self._lock:
            self.sock.sendall(_HDR.pack(len(payload)) + payload)

    def flush(self) -> None:
        """Send everything queued in ``outbox`` as one frame, in queue order."""
        out = self.outbox
        if not out:
            return
        with self._lock:
            msgs = []
            pop = out.popleft
            try:
                while True:
                    msgs.append(pop())
            except IndexError:
                pass
            if msgs and not self.closed:
                payload = pickle.dumps(msgs, 5)
                try:
                    self.sock.sendall(_HDR.pack(len(payload)) + payload)
                except OSError:
                    self.closed = True

    def _frames(self) -> list[list[tuple]]:
        buf = self._buf
        out = []
        pos = 0
        n = len(buf)
        h = _HDR.size
        while n - pos >= h:
            (size,) = _HDR.unpack_from(buf, pos)
            if n - pos - h < size:
                break
            out.append(pickle.loads(memoryview(buf)[pos + h:pos + h + size]))
            pos += h + size
        if pos:
            del buf[:pos]
        return out

    def recv(self, block: bool = True) -> list[list[tuple]]:
        """Complete frames available now; with ``block``, wait for at least one. EOFError at end."""
        frames = self._frames()
        while not frames:
            try:
                chunk = self.sock.recv(_RECV, 0 if block else socket.MSG_DONTWAIT)
            except BlockingIOError:
                return frames
            if not chunk:
                raise EOFError
            self._buf += chunk
            frames = self._frames()
        if block:  # drain whatever else is already there without blocking
            try:
                while True:
                    chunk = self.sock.recv(_RECV, socket.MSG_DONTWAIT)
                    if not chunk:
                        break
                    self._buf += chunk
            except (BlockingIOError, InterruptedError):
                pass
            frames.extend(self._frames())
        return frames

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


def started_path(session_dir: str, wid: int) -> str:
    """The file in which worker ``wid`` writes the id of each pool task it starts (8 bytes), read
    by the driver if the worker dies (``Scheduler._last_started``); the driver makes the folder."""
    return f"{session_dir}/started/{wid:x}"


def messages(frames: list[list[tuple]]) -> Any:
    for f in frames:
        yield from f
