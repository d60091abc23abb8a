"""The bounded worker pool: synthesis runs in threads, off the event loop, a fixed number at once.

A request first takes a *slot* (one of ``workers``), waiting in a queue of at most ``queue``
requests; when the queue is full it is refused at once (:class:`QueueFull`, a 503). A slot runs its
steps (one sentence each) on the pool's threads. When a request ends, or its client leaves, the
slot is freed as soon as the step already running on a thread returns: nothing more is computed for
it, and the count of busy workers stays true.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class QueueFull(Exception):
    """Every worker is busy and the queue is full."""


class WorkerPool:
    """``workers`` threads and a wait queue of ``queue`` requests. Use from one event loop."""

    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("the pool needs workers >= 1 and queue >= 0")
        self.workers = workers
        self.queue = queue
        self.busy = 0
        """Slots held (requests being served)."""
        self.waiting = 0
        """Requests waiting for a slot (the queue depth)."""
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="steptts-worker")
        self._free: asyncio.Semaphore | None = None

    async def acquire(self) -> Slot:
        """Wait for a free worker and hold it; raises QueueFull at once when the queue is full."""
        if self.busy + self.waiting >= self.workers + self.queue:
            raise QueueFull
        if self._free is None:
            self._free = asyncio.Semaphore(self.workers)
        self.waiting += 1
        try:
            await self._free.acquire()
        finally:
            self.waiting -= 1
        self.busy += 1
        return Slot(self)

    def _release(self) -> None:
        self.busy -= 1
        self._free.release()

    def shutdown(self) -> None:
        """Wait for the threads to finish their steps, then stop them."""
        self._executor.shutdown(wait=True)


class Slot:
    """One request's hold on a worker; runs its steps on the pool's threads."""

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool
        self._running: concurrent.futures.Future | None = None
        self._released = False

    def release(self) -> None:
        """Give the worker back (again is a no-op); if a step is still running, when it returns."""
        if self._released:
            return
        self._released = True
        running = self._running
        if running is not None and not running.done():
            loop = asyncio.get_running_loop()
            # A thread cannot be stopped mid-step: free the worker the moment its step returns.
            running.add_done_callback(lambda _: loop.call_soon_threadsafe(self._pool._release))
        else:
            self._pool._release()

    def when_idle(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` now, or (on the worker thread) when the step in progress returns."""
        running = self._running
        if running is not None and not running.done():
            running.add_done_callback(lambda _: callback())
        else:
            callback()

    async def run(self, function: Callable[..., T], *args) -> T:
        """``function(*args)`` on a worker thread; the caller may be cancelled while it runs."""
        if self._released:
            raise RuntimeError("the slot was released")
        self._running = self._pool._executor.submit(function, *args)
        return await asyncio.wrap_future(self._running)
