r"""Where runs execute: in this process, in local worker processes, or on a Dask cluster.

One abstraction serves ``sgdm compare`` and ``sgdm sweep`` alike (and
:func:`sgdm.experiment.run_many`)::

    from sgdm.executor import make_executor
    with make_executor(jobs=2) as ex:                     # or cluster="local:4" / "tcp://host:8786"
        for done in ex.map_unordered(fn, items):
            done.index, done.result, done.error           # in completion order

An :class:`Executor` runs ``fn(item)`` for every item and yields a :class:`Done` per item as it
finishes: its position in ``items`` and either the result or the exception that stopped it
(a task's own exception is returned, never raised, so the other tasks go on). ``fn`` must be a
picklable module-level function (or a ``functools.partial`` of one) and the items plain data.

- :class:`SerialExecutor`: in this process, one item after the other (``jobs=1``).
- :class:`ProcessExecutor`: ``jobs`` fresh worker processes (``spawn``: safe with the native
  thread pool and BLAS threads of the parent). A worker that dies (killed, out of memory)
  breaks the pool; the executor starts a new pool and reruns the items that had not finished,
  up to ``retries`` times each; results already received are kept.
- :class:`DaskExecutor`: the workers of a ``dask.distributed`` cluster, given by its scheduler
  address (``tcp://host:8786``) or ``local:N`` (a ``LocalCluster`` of N single-threaded worker
  processes bound to 127.0.0.1, closed with the executor). When a worker is lost, the scheduler
  reruns the tasks it held on the other workers (tasks already finished keep their results on
  the client); a task whose workers die repeatedly (``KilledWorker``) is resubmitted up to
  ``retries`` times, then reported as failed. Dask is optional: it is imported only here, and a
  missing install says ``pip install 'sgdm-cli[cluster]'``.

Data is not shipped with the tasks: a task carries a :class:`~sgdm.experiment.RunSpec` (a few
hundred bytes), and each worker process loads a data set once and keeps it
(:func:`sgdm.experiment.load_data`'s per-process cache), whether the process is a local worker
or a Dask worker.

Workers pin BLAS to one thread (``OPENBLAS_NUM_THREADS`` etc., unless set): N single-threaded
workers use N cores without oversubscription. Workers of a remote cluster are started by the
user; start them with ``--nthreads 1`` and the same variables.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import InvalidStateError
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol, Sequence, runtime_checkable

from ._sgdm import SgdmError

__all__ = [
    "Done",
    "Executor",
    "SerialExecutor",
    "ProcessExecutor",
    "DaskExecutor",
    "WorkerLost",
    "make_executor",
    "DASK_INSTALL_HINT",
]

DASK_INSTALL_HINT = "pip install 'sgdm-cli[cluster]'"
_BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Done:
    """One finished item: its index in the input, and its result or the error that stopped it."""

    index: int
    result: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class WorkerLost(RuntimeError):
    """An item's worker died every time the item was tried."""


@runtime_checkable
class Executor(Protocol):
    """Runs ``fn(item)`` for many items; see the module docstring."""

    #: How many items run at the same time (at most).
    workers: int

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Done]:
        """Yield one :class:`Done` per item, in completion order."""
        ...

    def describe(self) -> str:
        """A few words for progress messages: ``2 local processes``, ``Dask at tcp://...``."""
        ...

    def close(self) -> None:
        ...

    def __enter__(self) -> "Executor":
        ...

    def __exit__(self, *exc: Any) -> None:
        ...


class _Base:
    workers: int = 1

    def __enter__(self):
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def close(self) -> None:
        pass

    def abort(self) -> None:
        """Stop at once (an error or Ctrl-C in the caller): unfinished work is dropped."""
        self.close()


class SerialExecutor(_Base):
    """Runs every item in this process, in order (the ``jobs=1`` case)."""

    workers = 1

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Done]:
        for i, item in enumerate(items):
            try:
                yield Done(i, fn(item))
            except Exception as err:  # the task's error is its outcome, not the loop's
                yield Done(i, error=err)

    def describe(self) -> str:
        return "this process"


def _pin_blas() -> None:
    for var in _BLAS_VARS:
        os.environ.setdefault(var, "1")


def _quiet_manager_thread_race() -> None:
    """Silence one harmless traceback of CPython's process pool (fixed in 3.12, gh-107219).

    Terminating the workers after cancelling queued futures (:meth:`ProcessExecutor.abort`, the
    Ctrl-C path) can make the pool's manager thread call ``set_exception`` on a cancelled
    future; on Python 3.10 and 3.11 that raises ``InvalidStateError`` in the thread, printed
    as "Exception in thread ...". Nothing is lost: the future was cancelled on purpose. Any
    other thread exception still reaches the previous hook. Installed once, on first abort.
    """
    previous = threading.excepthook
    if getattr(previous, "sgdm_quiet", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is InvalidStateError and type(args.thread).__name__ == "_ExecutorManagerThread":
            return
        previous(args)

    hook.sgdm_quiet = True  # type: ignore[attr-defined]
    threading.excepthook = hook


class ProcessExecutor(_Base):
    """``jobs`` local worker processes (``spawn``), started on first use and reused until
    :meth:`close`; dead workers are replaced and their unfinished items rerun (``retries``)."""

    def __init__(self, jobs: int, retries: int = 2) -> None:
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise SgdmError(f"jobs = {jobs!r} is invalid: expected an integer >= 1")
        self.workers = jobs
        self.retries = retries
        self._pool = None

    def describe(self) -> str:
        return f"{self.workers} local process{'es' if self.workers > 1 else ''}"

    def _get_pool(self):
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            _pin_blas()  # inherited by the spawned workers before they import NumPy
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
        return self._pool

    def _drop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Done]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        attempts = [0] * len(items)
        todo = list(range(len(items)))
        while todo:
            pool = self._get_pool()
            pending = {}
            for i in todo:
                attempts[i] += 1
                pending[pool.submit(fn, items[i])] = i
            todo = []
            broken = False
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        i = pending.pop(fut)
                        err = fut.exception()
                        if isinstance(err, BrokenProcessPool):
                            broken = True
                            if attempts[i] <= self.retries:
                                todo.append(i)
                            else:
                                yield Done(i, error=WorkerLost(
                                    f"its worker process died {attempts[i]} times ({err})"))
                        elif err is not None:
                            yield Done(i, error=err)
                        else:
                            yield Done(i, fut.result())
            finally:
                # Consumer stopped early (or Ctrl-C): do not leave queued work behind.
                if pending:
                    for fut in pending:
                        fut.cancel()
            if broken:
                self._drop_pool()
            todo.sort()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def abort(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            _quiet_manager_thread_race()
            processes = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for p in processes:  # the workers of this executor only
                if p.is_alive():
                    p.terminate()


class DaskExecutor(_Base):
    """The workers of a Dask cluster: ``address`` is ``tcp://host:port`` (an existing
    scheduler), ``local:N`` (a new ``LocalCluster`` of N processes on 127.0.0.1, closed with the
    executor), or a ``dask.distributed.Client``."""

    def __init__(self, address: Any, retries: int = 2, timeout: float = 30.0) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ImportError(
                f"--cluster needs Dask: {DASK_INSTALL_HINT} (or pip install 'dask[distributed]')"
            ) from None
        self.retries = retries
        self._cluster = None
        self._own_client = True
        self.address = address if isinstance(address, str) else getattr(address, "scheduler", None)
        if isinstance(address, Client):
            self.client = address
            self._own_client = False
        elif isinstance(address, str) and address.startswith("local:"):
            n = address[len("local:"):]
            if not n.isdigit() or int(n) < 1:
                raise SgdmError(
                    f"cluster = {address!r} is invalid: expected local:N with N >= 1, or tcp://host:port"
                )
            _pin_blas()
            env = {var: os.environ[var] for var in _BLAS_VARS}
            self._cluster = LocalCluster(
                n_workers=int(n), threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, env=env, silence_logs=40,
            )
            self.client = Client(self._cluster, timeout=timeout)
        elif isinstance(address, str) and "://" in address:
            try:
                self.client = Client(address, timeout=timeout)
            except OSError as err:
                raise OSError(f"cannot reach the Dask scheduler at {address}: {err}") from None
        else:
            raise SgdmError(
                f"cluster = {address!r} is invalid: expected tcp://host:port or local:N"
            )
        self.address = self.client.scheduler.address
        workers = len(self.client.scheduler_info().get("workers", {}))
        self.workers = max(1, workers)

    def describe(self) -> str:
        where = f"a local Dask cluster ({self.workers} workers)" if self._cluster else f"Dask at {self.address}"
        return where

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Done]:
        from dask.distributed import as_completed
        from distributed.scheduler import KilledWorker

        attempts = [1] * len(items)
        # pure=False: every submission is a new task (a resubmitted item must run again).
        futures = {self.client.submit(fn, item, pure=False): i for i, item in enumerate(items)}
        queue = as_completed(list(futures))
        try:
            for fut in queue:
                i = futures.pop(fut)
                if fut.status == "finished":
                    result = fut.result()
                    fut.release()
                    yield Done(i, result)
                    continue
                if fut.status == "cancelled":
                    # A cluster restart or a client reconnect cancels tasks: submit again.
                    err: BaseException = WorkerLost("the task was cancelled by the cluster")
                else:
                    err = fut.exception()
                fut.release()
                lost = isinstance(err, (KilledWorker, WorkerLost))
                if lost and attempts[i] <= self.retries:
                    attempts[i] += 1
                    again = self.client.submit(fn, items[i], pure=False)
                    futures[again] = i
                    queue.add(again)
                elif lost:
                    yield Done(i, error=WorkerLost(f"its workers died {attempts[i]} times ({err})"))
                else:
                    yield Done(i, error=err)
        finally:
            if futures:
                self.client.cancel(list(futures))

    def close(self) -> None:
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def make_executor(jobs: int = 1, cluster: str | None = None, n_items: int | None = None) -> Executor:
    """The executor for the command line's ``--jobs`` / ``--cluster``: Dask when ``cluster`` is
    given, else ``jobs`` local processes (this process when ``jobs`` or ``n_items`` is 1)."""
    if cluster:
        return DaskExecutor(cluster)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise SgdmError(f"jobs = {jobs!r} is invalid: expected an integer >= 1")
    if n_items is not None:
        jobs = max(1, min(jobs, n_items))
    return SerialExecutor() if jobs == 1 else ProcessExecutor(jobs)

