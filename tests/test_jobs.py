"""jobs.Job: delivery on the loop thread, throttling, cancel keeps results, errors reported."""

from __future__ import annotations

import asyncio
import threading
import time

from matwidgets.jobs import Job


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

    def endless():
        k = 0
        while True:
            time.sleep(0.001)
            yield k
            k += 1

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
