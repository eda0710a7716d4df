"""Background work for widgets: the only place threads live.

A Job runs an engine generator in a worker thread. The worker never touches a
widget: it queues what the generator yields and asks the kernel's event loop
(``call_soon_threadsafe``) to deliver the queue, at most ``rate`` times a second.
The handler therefore runs on the kernel thread, where setting traits is safe,
and receives every item produced since the last delivery (nothing is dropped;
a widget that only wants the latest frame takes the last one). Each job has its
own id, so a widget can ignore deliveries from a job it has since replaced.

Live jobs are registered; at interpreter exit they are cancelled and their threads
joined, so no worker is still inside torch while the interpreter tears down (that
aborts the process with "terminate called without an active exception").
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from matwidgets.engine.threads import release_idle_team

_ids = itertools.count(1)
_live: weakref.WeakSet[Job] = weakref.WeakSet()  # jobs whose worker thread may still run
_live_lock = threading.Lock()
EXIT_TIMEOUT = 10.0  # seconds, in all, that exit waits for cancelled workers


class Job:
    """Run ``make_gen()`` in a thread; deliver its items to ``on_items(job, items)``.

    ``on_done(job)`` runs once at the end (status "done", "cancelled" or "error";
    the exception is in ``job.error``). Both callbacks run on the event loop thread.
    An exception raised by ``on_items`` is not lost on the loop: it stops the job,
    which ends with status "error" and that exception.
    """

    def __init__(self, make_gen: Callable[[], Iterator[Any]], on_items: Callable[[Job, list], None],
                 on_done: Callable[[Job], None] | None = None, rate: float = 30.0, loop: asyncio.AbstractEventLoop | None = None):
        self.id = next(_ids)
        self._make_gen, self._on_items, self._on_done = make_gen, on_items, on_done
        self.interval = 1.0 / rate
        self.loop = loop or kernel_loop()
        self.status = "idle"
        self.error: BaseException | None = None
        self.error_traceback = ""
        self._callback_error: tuple[BaseException, str] | None = None
        self.n_items = 0
        self._queue: list = []
        self._lock = threading.Lock()
        self._scheduled = False
        self._last = 0.0
        self._cancel = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- control (call from the kernel thread) ----------------------------------------
    def start(self) -> Job:
        self.status = "running"
        # the calling thread's idle OpenMP team would throttle the worker's (engine/threads.py)
        release_idle_team()
        self._thread = threading.Thread(target=self._work, name=f"matwidgets-job-{self.id}", daemon=True)
        with _live_lock:
            _live.add(self)
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()
        self._resume.set()

    def pause(self) -> None:
        if self.status == "running":
            self._resume.clear()
            self.status = "paused"

    def resume(self) -> None:
        if self.status == "paused":
            self.status = "running"
            self._resume.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job finished and its last delivery ran (scripts and tests).

        When the event loop is not running (no kernel), it is run here meanwhile.
        """
        if self.loop.is_running() and _on_loop_thread(self.loop):
            raise RuntimeError("Job.wait() would block the kernel that delivers the results: use `await job.wait_async()` in a notebook")
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.finished:
            if deadline is not None and time.monotonic() > deadline:
                return False
            if not self.loop.is_running():
                self.loop.run_until_complete(asyncio.sleep(0.01))
            else:
                time.sleep(0.01)
        return True

    async def wait_async(self, timeout: float | None = None) -> bool:
        """In a notebook: ``await job.wait_async()`` lets the kernel deliver meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.finished:
            if deadline is not None and time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    @property
    def finished(self) -> bool:
        """True once the worker ended and its last delivery and on_done ran."""
        return self._finished.is_set() and self.status in ("done", "cancelled", "error")

    # ---- worker thread ----------------------------------------------------------------
    def _work(self) -> None:
        outcome, error = "done", None
        try:
            gen = self._make_gen()
            for item in gen:
                with self._lock:
                    self._queue.append(item)
                self._schedule()
                self._resume.wait()
                if self._cancel.is_set():
                    close = getattr(gen, "close", None)
                    if close:
                        close()
                    outcome = "cancelled"
                    break
            else:
                if self._cancel.is_set():  # the generator saw the cancel itself and ended early
                    outcome = "cancelled"
        except BaseException as exc:  # reported to the widget, never lost in a thread
            outcome, error = "error", exc
            self.error_traceback = traceback.format_exc()
        self._finished.set()
        with _live_lock:
            _live.discard(self)
        _call_soon(self.loop, self._finish, outcome, error)

    def _schedule(self) -> None:
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        delay = max(0.0, self._last + self.interval - time.monotonic())
        _call_soon(self.loop, self.loop.call_later, delay, self._deliver)

    def _join(self, timeout: float | None) -> bool:
        """Wait for the worker thread itself (not for deliveries); True if it ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ---- event loop thread ------------------------------------------------------------
    def _deliver(self) -> None:
        with self._lock:
            items, self._queue = self._queue, []
            self._scheduled = False
        self._last = time.monotonic()
        if items and self._callback_error is None:
            self.n_items += len(items)
            try:
                self._on_items(self, items)
            except Exception as exc:  # a widget's handler failed: the job ends with its error
                self._callback_error = (exc, traceback.format_exc())
                self.cancel()

    def _finish(self, outcome: str, error: BaseException | None) -> None:
        self._deliver()  # whatever arrived after the last throttled delivery
        if self._callback_error is not None:
            outcome, (error, self.error_traceback) = "error", self._callback_error
        self.error = error
        self.status = outcome
        if self._on_done is not None:
            self._on_done(self)


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable, *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # the loop was closed (interpreter exit, a test's loop): nobody to deliver to
        pass


@atexit.register
def cancel_all(timeout: float = EXIT_TIMEOUT) -> None:
    """Cancel every live job and wait (up to ``timeout`` s in all) for its worker to stop.

    Registered with atexit: a daemon worker still inside torch while the interpreter
    finalizes aborts the process. Engine generators yield between steps, so a
    cancelled worker stops within about one step.
    """
    with _live_lock:  # workers discard themselves from other threads
        jobs = list(_live)
    for job in jobs:
        job.cancel()
    deadline = time.monotonic() + timeout
    for job in jobs:
        job._join(max(0.0, deadline - time.monotonic()))


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def kernel_loop() -> asyncio.AbstractEventLoop:
    """The loop of the calling (kernel) thread: ipykernel runs one; scripts get a new one."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            loop = asyncio.get_event_loop()
        if loop.is_closed():
            raise RuntimeError("closed")
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop
