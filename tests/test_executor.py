"""Executors: the same results in this process, in local processes and on Dask; dead workers'
items rerun; Dask optional with a clear message."""

import os
import sys
from pathlib import Path

import pytest

from sgdm import SgdmError, experiment
from sgdm.executor import (
    DaskExecutor, Executor, ProcessExecutor, SerialExecutor, WorkerLost, make_executor,
)


def square(x):
    return x * x


def fail_on_three(x):
    if x == 3:
        raise ValueError("three is not allowed")
    return x


def die_once(item):
    """Kill the worker process the first time item 'k' runs (a marker file remembers it)."""
    x, marker = item
    if x == 2 and not os.path.exists(marker):
        Path(marker).write_text("died")
        os._exit(1)
    return x * 10


def always_die(item):
    os._exit(1)


def test_serial_and_process_agree_and_keep_errors():
    items = list(range(8))
    for ex in (SerialExecutor(), ProcessExecutor(2)):
        with ex:
            assert isinstance(ex, Executor)
            done = list(ex.map_unordered(fail_on_three, items))
        assert sorted(d.index for d in done) == items
        by = {d.index: d for d in done}
        assert by[3].error is not None and "three" in str(by[3].error) and not by[3].ok
        assert all(by[i].result == i for i in items if i != 3)


def test_process_executor_reruns_items_of_a_dead_worker(tmp_path):
    marker = str(tmp_path / "died")
    items = [(x, marker) for x in range(6)]
    with ProcessExecutor(2) as ex:
        done = list(ex.map_unordered(die_once, items))
    assert os.path.exists(marker)  # a worker did die
    assert sorted(d.index for d in done) == list(range(6))
    assert all(d.ok for d in done), [d.error for d in done if not d.ok]
    assert {d.index: d.result for d in done} == {i: i * 10 for i in range(6)}


def test_process_executor_gives_up_on_an_item_that_always_kills_its_worker():
    with ProcessExecutor(1, retries=1) as ex:
        done = list(ex.map_unordered(always_die, [0]))
    assert len(done) == 1 and isinstance(done[0].error, WorkerLost)


def test_make_executor_choices():
    assert isinstance(make_executor(1), SerialExecutor)
    assert isinstance(make_executor(4, n_items=1), SerialExecutor)
    ex = make_executor(3, n_items=10)
    assert isinstance(ex, ProcessExecutor) and ex.workers == 3
    with pytest.raises(SgdmError, match="jobs"):
        make_executor(0)


def test_run_many_keeps_its_signature_and_takes_an_executor():
    specs = [experiment.RunSpec(strategy=s, epochs=3, seed=k) for s in ("ii", "iii") for k in (0, 1)]
    a = experiment.run_many(specs, jobs=2, target=1e-2)
    with ProcessExecutor(2) as ex:
        b = experiment.run_many(specs, target=1e-2, executor=ex)
    assert [r.spec for r in a] == specs == [r.spec for r in b]
    drop = lambda r: [{k: v for k, v in row.items() if k != "wall_time"} for row in r.history.rows]  # noqa: E731
    assert [drop(r) for r in a] == [drop(r) for r in b]
    assert all(r.elapsed > 0 for r in a)


def test_missing_dask_says_how_to_install(monkeypatch):
    for name in ("dask", "dask.distributed", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install 'sgdm-cli\[cluster\]'"):
        DaskExecutor("local:1")
    with pytest.raises(ImportError, match="cluster"):
        make_executor(2, cluster="tcp://127.0.0.1:1")


def test_bad_cluster_address():
    pytest.importorskip("dask.distributed")
    for bad in ("local:0", "local:x", "127.0.0.1:8786"):
        with pytest.raises(SgdmError, match="cluster"):
            DaskExecutor(bad)


def test_abort_silences_only_the_pool_manager_race(monkeypatch):
    # CPython < 3.12 (gh-107219): after abort() the pool's manager thread may call set_exception
    # on a future abort cancelled; that one InvalidStateError is dropped, nothing else is
    import threading
    from concurrent.futures import InvalidStateError

    from sgdm import executor

    seen = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_type))
    executor._quiet_manager_thread_race()
    executor._quiet_manager_thread_race()  # installed once, not stacked

    class _ExecutorManagerThread(threading.Thread):  # the pool's thread class, by name
        pass

    def report(exc_type, thread):
        threading.excepthook(threading.ExceptHookArgs((exc_type, exc_type("x"), None, thread)))

    report(InvalidStateError, _ExecutorManagerThread())
    report(ValueError, _ExecutorManagerThread())
    report(InvalidStateError, threading.Thread())
    assert seen == [ValueError, InvalidStateError]
