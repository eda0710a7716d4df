"""jobs.Job: delivery on the loop thread, throttling, cancel keeps results, errors reported."""

from __future__ import annotations

import asyncio
import threading
import time

from matwidgets.jobs import Job


def endless():
    """Counts forever, a millisecond apart (a job that only stops when cancelled)."""
    k = 0
    while True:
        time.sleep(0.001)
        yield k
        k += 1


def make_loop():
    loop = asyncio.new_event_loop()
    return loop


def test_items_delivered_on_loop_thread_all_of_them():
    loop = make_loop()
    got, threads = [], set()

    def on_items(job, items):
        threads.add(threading.get_ident())
        got.extend(items)

    job = Job(lambda: iter(range(500)), on_items, rate=20, loop=loop).start()
    assert job.wait(10)
    assert got == list(range(500))
    assert threads == {threading.get_ident()}
    assert job.status == "done"


def test_throttled_deliveries():
    loop = make_loop()
    calls = []

    def slow():
        for k in range(40):
            time.sleep(0.005)
            yield k

    t0 = time.monotonic()
    job = Job(slow, lambda j, items: calls.append(len(items)), rate=10, loop=loop).start()
    job.wait(10)
    elapsed = time.monotonic() - t0
    # at most 10 deliveries per second of work (+ the first and the final one), never one per item
    assert sum(calls) == 40 and len(calls) <= 10 * elapsed + 2 and len(calls) < 40


def test_cancel_keeps_what_arrived_and_error_is_reported():
    loop = make_loop()
    got = []

    job = Job(endless, lambda j, items: got.extend(items), loop=loop).start()
    loop.run_until_complete(asyncio.sleep(0.1))
    job.cancel()
    job.wait(5)
    assert job.status == "cancelled" and len(got) > 5 and got == list(range(len(got)))

    def broken():
        yield 1
        raise ValueError("bad candidate")

    done = []
    job = Job(broken, lambda j, items: None, on_done=lambda j: done.append(j.status), loop=loop).start()
    job.wait(5)
    assert done == ["error"] and "bad candidate" in str(job.error) and "ValueError" in job.error_traceback


def test_pause_and_resume():
    loop = make_loop()
    got = []

    def ticks():
        for k in range(1000):
            time.sleep(0.001)
            yield k

    job = Job(ticks, lambda j, items: got.extend(items), loop=loop).start()
    loop.run_until_complete(asyncio.sleep(0.05))
    job.pause()
    loop.run_until_complete(asyncio.sleep(0.1))
    n = len(got)
    loop.run_until_complete(asyncio.sleep(0.1))
    assert len(got) <= n + 1 and job.status == "paused"
    job.resume()
    job.wait(10)
    assert got == list(range(1000))


EXIT_SCRIPT = """
import time
import torch
from matwidgets.jobs import Job

def work():
    a = torch.randn(500, 500)
    while True:  # never ends by itself: only cancel at exit stops it
        a = torch.matmul(a, a)
        a = a / a.norm()
        yield 1

job = Job(work, lambda j, items: None).start()
time.sleep(0.3)  # the worker is inside torch when the script ends
"""


def test_exit_while_a_job_runs_torch_does_not_abort(tmp_path):
    # a daemon worker still inside torch at interpreter shutdown aborts the process
    # ("terminate called without an active exception", SIGABRT): exit cancels and joins jobs
    import os
    import subprocess
    import sys
    from pathlib import Path

    import matwidgets

    root = str(Path(matwidgets.__file__).resolve().parents[1])
    script = tmp_path / "exit_while_running.py"
    script.write_text(EXIT_SCRIPT)
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert "terminate called" not in proc.stderr
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_cancel_all_stops_live_jobs_and_forgets_them():
    from matwidgets import jobs

    loop = make_loop()
    job = Job(endless, lambda j, items: None, loop=loop).start()
    assert job in jobs._live
    jobs.cancel_all(timeout=5)
    assert job.cancelled and not job._thread.is_alive() and job not in jobs._live


def test_a_failing_handler_ends_the_job_with_its_error():
    loop = make_loop()
    done = []

    def handler(job, items):
        if any(k >= 10 for k in items):
            raise KeyError("widget broke")

    job = Job(endless, handler, on_done=lambda j: done.append((j.status, j.error)), loop=loop).start()
    assert job.wait(10)  # the worker stops: no endless run feeding a broken handler
    assert done == [("error", job.error)] and isinstance(job.error, KeyError)
    assert "widget broke" in job.error_traceback and "handler" in job.error_traceback
