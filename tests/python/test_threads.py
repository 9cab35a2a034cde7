"""The GIL is released while a model runs: a second Python thread makes progress during run().

No timing: the interpreter's switch interval is raised so far that, without a release inside
run(), the main thread never hands the GIL over between reading the counter and run() returning;
the counter then could not move. It must move."""
import sys
import threading
import time

import numpy as np

import netlens


def test_second_thread_counts_during_run(mobilenet, photo_npy):
    x, _ = photo_npy
    m = netlens.load(mobilenet, backend="cpu")
    m.run(x)  # plans the session: the measured runs only run
    count = 0
    stop = False

    def worker():
        nonlocal count
        while not stop:
            count += 1
            time.sleep(0)  # gives the GIL back each iteration, so the main thread can always take it

    old = sys.getswitchinterval()
    t = threading.Thread(target=worker)
    t.start()
    try:
        sys.setswitchinterval(1000.0)
        during = []
        for _ in range(3):
            before = count
            m.run(x)
            during.append(count - before)
    finally:
        sys.setswitchinterval(old)
        stop = True
        t.join()
    print("worker iterations during each run:", during)
    assert all(d > 0 for d in during), during


def test_gradients_release_the_gil_too(mobilenet, photo_npy):
    x, _ = photo_npy
    m = netlens.load(mobilenet, backend="cpu")
    m.run(x)
    count, stop = 0, False

    def worker():
        nonlocal count
        while not stop:
            count += 1
            time.sleep(0)

    old = sys.getswitchinterval()
    t = threading.Thread(target=worker)
    t.start()
    try:
        sys.setswitchinterval(1000.0)
        before = count
        m.gradients()
        during = count - before
    finally:
        sys.setswitchinterval(old)
        stop = True
        t.join()
    assert during > 0


def test_two_threads_sharing_a_model_take_turns(mobilenet, photo_npy):
    """Runs from two threads on one Model are serialised by its mutex: every result equals the
    single-threaded run of the same input, bit for bit."""
    x, _ = photo_npy
    xs = [x, np.ascontiguousarray(np.flip(x, axis=3))]
    m = netlens.load(mobilenet, backend="cpu")
    out = m.output_names[0]
    expect = [m.run(v)[out].copy() for v in xs]
    got, errors = [[], []], []

    def worker(i):
        try:
            for _ in range(3):
                got[i].append(m.run(xs[i])[out])
        except Exception as e:  # reported below: a thread's exception would otherwise be lost
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(i,)) for i in (0, 1)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    for i in (0, 1):
        assert len(got[i]) == 3
        for g in got[i]:
            assert g.tobytes() == expect[i].tobytes()


def test_reading_state_during_a_run_does_not_deadlock(mobilenet, photo_npy):
    """has_run / repr / target() wait for the model's mutex with the GIL released: a thread that
    held the GIL while waiting would deadlock with a run that needs the GIL to return (ctest's
    timeout would fail this test)."""
    x, _ = photo_npy
    m = netlens.load(mobilenet, backend="cpu")
    m.run(x)
    stop = False

    def runner():
        while not stop:
            m.run(x)

    t = threading.Thread(target=runner)
    t.start()
    try:
        for _ in range(50):
            assert m._c.has_run in (True, False)
            repr(m)
            m.target()
    finally:
        stop = True
        t.join()
