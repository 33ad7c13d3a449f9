"""Connections spread over the workers by the parent: each new MLLP or HTTP connection goes
to the worker with the fewest open of its kind (least connections; guideline §6 高可用: every
worker carries its share of the load).

A hospital's HIS holds a few MLLP connections open for days, and an integration engine or a
regional platform a few keep-alive HTTP connections.  With SO_REUSEPORT the kernel hashes
each one to a worker: four connections over two workers came out 4 and 0 or 3 and 1
(``tests/cli/test_serve.py``), eight MLLP connections came out 4/4, 6/2 or 7/1 in benchmark
runs — with 7/1 one worker saturated while the other idled, ``ADT^A04`` feeds 838–840 msg/s
against 923–927 handed over (``bench/mllp_bench.py``, same machine, minutes apart) — and the
32 keep-alive connections of ``bench/run.py`` 18/14 or 19/13 (the busier worker's clients
waited longer).  So with several workers the parent keeps both ports: it accepts
(:class:`Handoff`, a thread of the supervisor per port) and passes each connection's socket
over a Unix socket pair (``SCM_RIGHTS``) to the worker with the fewest connections; the
worker (:class:`Intake`) serves it as if it had accepted it, and tells the parent when it
closes.  A worker that dies takes its count with it; its replacement starts at zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import selectors
import socket
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)
_CLOSED = b"-"  # worker → parent: one connection of mine closed


def _pair() -> tuple[socket.socket, socket.socket]:
    """A Unix socket pair that keeps each message apart (one connection per message)."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


class Handoff:
    """The parent's side: accepts on ``listener`` and hands each connection to a worker."""

    def __init__(self, listener: socket.socket, what: str) -> None:
        self._listener = listener
        self._what = what  # the port's protocol, for the log
        self._open: dict[socket.socket, int] = {}  # a worker's channel → its open connections
        self._joining: list[socket.socket] = []
        self._unplaced: list[socket.socket] = []  # accepted before any worker was there
        self._lock = threading.Lock()
        self._wake, self._woken = _pair()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def channel(self) -> socket.socket:
        """A channel for a worker about to be forked: the worker's end (close it in the
        parent once the worker has started)."""
        ours, theirs = _pair()
        with self._lock:
            self._joining.append(ours)
        self._wake.send(b"+")
        return theirs

    def inherited(self) -> list[socket.socket]:
        """What a forked worker got of the parent's side and must close (no lock: in the
        child the parent's thread is gone, perhaps holding it)."""
        return [
            self._listener, self._wake, self._woken,
            *list(self._open), *self._joining, *self._unplaced,
        ]  # fmt: skip

    def start(self) -> None:
        name = f"{self._what.lower()}-handoff"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting (a signal asked the workers to stop)."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake.send(b"!")
        if self._thread is not None:
            self._thread.join(5)

    def counts(self) -> list[int]:
        with self._lock:
            return list(self._open.values())

    def _run(self) -> None:
        self._listener.setblocking(False)
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._woken, selectors.EVENT_READ)
            while not self._stopping:
                for key, _ in selector.select():
                    if key.fileobj is self._listener:
                        self._accept()
                    elif key.fileobj is self._woken:
                        self._join(selector)
                    else:
                        self._heard(selector, key.fileobj)  # type: ignore[arg-type]

    def _join(self, selector: selectors.BaseSelector) -> None:
        with contextlib.suppress(BlockingIOError):
            self._woken.recv(16, socket.MSG_DONTWAIT)
        with self._lock:
            joining, self._joining = self._joining, []
            for ours in joining:
                self._open[ours] = 0
                selector.register(ours, selectors.EVENT_READ)
        unplaced, self._unplaced = self._unplaced, []
        for conn in unplaced:
            self._place(conn)

    def _heard(self, selector: selectors.BaseSelector, ours: socket.socket) -> None:
        """A worker closed a connection, or exited (end of its channel)."""
        try:
            notice = ours.recv(16, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            notice = b""
        with self._lock:
            if notice:
                self._open[ours] = max(0, self._open[ours] - len(notice))
                return
            del self._open[ours]
        selector.unregister(ours)
        ours.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, say: the client will retry
                log.warning("%s accept failed: %s", self._what, exc)
                return
            self._place(conn)

    def _place(self, conn: socket.socket) -> None:
        """To the worker with the fewest open connections (the next one if it is gone or has
        not read what it was sent); kept until one joins if there is none (at start, or all
        restarting)."""
        with self._lock:
            ranked = sorted(self._open, key=self._open.__getitem__)
        for ours in ranked:
            try:
                socket.send_fds(ours, [b"c"], [conn.fileno()], socket.MSG_DONTWAIT)
            except OSError:  # gone (EPIPE), or its channel full (EAGAIN): never wait here
                continue
            with self._lock:
                if ours in self._open:
                    self._open[ours] += 1
            conn.close()  # the worker has its own descriptor now
            return
        self._unplaced.append(conn)


class Intake:
    """A worker's side: receives connections from the parent, tells it of each one closed."""

    def __init__(self, channel: socket.socket) -> None:
        self._channel = channel
        channel.setblocking(False)

    def start(self, serve: Callable[[socket.socket], None], gone: Callable[[], None]) -> None:
        """``serve`` each connection handed over, on the running loop; ``gone`` once the
        parent is (its end of the channel closed: it stopped, or it was killed)."""
        loop = asyncio.get_running_loop()
        loop.add_reader(self._channel.fileno(), self._receive, serve, gone)

    def stop(self) -> None:
        """Take no more connections (the worker is stopping, or the parent is gone)."""
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self._channel.fileno())

    def closed(self) -> None:
        """One connection handed over has closed."""
        with contextlib.suppress(OSError):
            self._channel.send(_CLOSED)

    def _receive(self, serve: Callable[[socket.socket], None], gone: Callable[[], None]) -> None:
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self._channel, 16, 4)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                message, fds = b"", []
            if not message and not fds:  # the parent is gone
                self.stop()
                gone()
                return
            for fd in fds:
                serve(socket.socket(fileno=fd))
