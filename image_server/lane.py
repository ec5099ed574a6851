"""The slow lane: large renders run in a child process at low priority, under a memory
ceiling and a time limit, so tiles never wait behind them.

Tiles and small thumbnails are made in the request's own thread. Everything bigger goes
to this worker's lane: one child process (made on first use, gone after a minute idle)
that renders one image at a time with ``nice`` 19 and an address-space limit. When the
CPU is busy with tiles the kernel runs the lane only in what is left over; a render
that passes its time limit is killed with its process, and one that needs more memory
than the ceiling fails there, never in the server. At most ``queue`` requests wait for
the lane; past that, and past the wait, the answer is 503 with Retry-After.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .errors import IIIFError, Overloaded
from .plan import Plan

IDLE_SECONDS = 60.0
_EXHAUSTED = ("memory", "alloc", "creating thread", "resource temporarily unavailable")
# The lane process's program: its socket, its memory ceiling, and whether to lock down.
CHILD = (
    "import sys; from multiprocessing.connection import Connection; "
    "from image_server.lane import serve; "
    "serve(Connection(int(sys.argv[1])), int(sys.argv[2]), sys.argv[3] == '1')"
)


class TooExpensive(IIIFError):
    """A render that needed more memory than the lane's ceiling."""

    status = 413


@dataclass(frozen=True, slots=True)
class LaneSettings:
    queue: int = 2  # requests that may wait for the lane beside the one it renders
    wait: float = 10.0  # seconds a request waits for its turn before a 503
    seconds: float = 20.0  # a render's time limit
    memory_mb: int = 1536  # the lane process's address-space ceiling
    retry_after: int = 5
    lockdown: bool = True  # block every libvips loader but TIFF in the lane too


@dataclass(frozen=True, slots=True)
class Job:
    path: str
    plan: Plan
    jpeg_quality: int


def serve(connection: Connection, memory_mb: int, lockdown: bool) -> None:
    """The lane process: low priority, bounded memory, one render at a time until EOF."""
    import resource

    os.nice(19)
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import pyvips

    from . import bound_vips_caches, lock_down_vips, transform

    bound_vips_caches()
    if lockdown:
        lock_down_vips()
    pyvips.concurrency_set(1)  # one core at most: the other is the tiles'
    while True:
        try:
            job: Job = connection.recv()
        except EOFError:
            return
        try:
            page = pyvips.Image.new_from_file(job.path, page=job.plan.page)
            image = transform.render(job.plan, page)
            connection.send(("ok", transform.encode(image, job.plan.format, job.jpeg_quality)))
        except MemoryError:
            connection.send(("memory", ""))
        except pyvips.Error as exc:
            # Past the ceiling libvips fails to allocate a buffer, or to make a thread
            # (whose stack is address space too): both are this render's size.
            text = str(exc).lower()
            exhausted = any(sign in text for sign in _EXHAUSTED)
            connection.send(("memory" if exhausted else "error", str(exc)[:300]))


class Lane:
    """This worker process's slow lane: its child process, and who may wait for it."""

    def __init__(self, settings: LaneSettings) -> None:
        self.settings = settings
        self._turn = threading.Lock()  # one render at a time
        self._admit = threading.BoundedSemaphore(settings.queue + 1)
        self._state = threading.Lock()
        self._child: Any = None
        self._connection: Connection | None = None
        self._last_used = 0.0
        self._reaper: threading.Thread | None = None

    def render(self, job: Job) -> bytes:
        """The encoded image, or Overloaded (busy, or too slow), or TooExpensive."""
        settings = self.settings
        if not self._admit.acquire(blocking=False):
            raise Overloaded(
                "too many large images are being made; retry shortly", settings.retry_after
            )
        try:
            if not self._turn.acquire(timeout=settings.wait):
                raise Overloaded("large images are queued; retry shortly", settings.retry_after)
            try:
                return self._run(job)
            finally:
                self._last_used = time.monotonic()
                self._turn.release()
        finally:
            self._admit.release()

    def _run(self, job: Job) -> bytes:
        connection = self._ensure_child()
        connection.send(job)
        if not connection.poll(self.settings.seconds):
            self.stop()  # the only way to stop libvips mid-render is to end its process
            raise Overloaded(
                "this image took too long to make; retry later", self.settings.retry_after
            )
        try:
            kind, body = connection.recv()
        except (EOFError, OSError):  # the child died: the kernel's OOM killer, say
            self.stop()
            raise TooExpensive("this image needs more memory than the server allows") from None
        if kind == "ok":
            return bytes(body)
        if kind == "memory":
            self.stop()
            raise TooExpensive("this image needs more memory than the server allows")
        raise RuntimeError(f"render failed in the lane: {body}")

    def _ensure_child(self) -> Connection:
        with self._state:
            if self._child is not None and self._child.poll() is None and self._connection:
                return self._connection
            # A fresh interpreter, not a fork of a threaded server nor multiprocessing's
            # spawn (which would import the server's main module again).
            ours, theirs = socket.socketpair()
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    str(theirs.fileno()),
                    str(self.settings.memory_mb),
                    "1" if self.settings.lockdown else "0",
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                # One malloc arena: glibc reserves 64 MB of address space for each thread's
                # own arena, which counted against the ceiling without being used, and made
                # what a render may take depend on which thread happened to run it.
                env={**os.environ, "MALLOC_ARENA_MAX": "1"},
                cwd=str(Path(__file__).resolve().parent.parent),
            )
            theirs.close()
            self._child = child
            self._connection = connection = Connection(ours.detach())
            if self._reaper is None or not self._reaper.is_alive():
                self._reaper = threading.Thread(target=self._reap, daemon=True)
                self._reaper.start()
            return connection

    def _reap(self) -> None:
        """Stop the child after a minute unused, so an idle server holds one process less."""
        while True:
            time.sleep(IDLE_SECONDS / 4)
            if self._child is None or not self._turn.acquire(blocking=False):
                continue
            try:
                if time.monotonic() - self._last_used > IDLE_SECONDS:
                    self.stop()
            finally:
                self._turn.release()

    def stop(self) -> None:
        with self._state:
            child, connection = self._child, self._connection
            self._child = self._connection = None
        if connection is not None:
            connection.close()
        if child is not None:
            child.kill()
            child.wait(timeout=5)

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.poll() is None
