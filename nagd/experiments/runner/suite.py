"""`run_suite`: execute the tasks not yet stored, in this process, on a local process pool or on Dask."""
import concurrent.futures
import math
import os
import traceback
from dataclasses import dataclass, field

from ..._validation import positive_int
from .cluster import run_dask
from .store import StoreError, has_run, save_run
from .worker import execute, open_pool, stop_pool, terminate_raises

__all__ = ["SuiteResult", "run_suite"]


@dataclass
class SuiteResult:
    """What `run_suite` did: stored keys, keys skipped as already stored, and failures."""

    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failures: list = field(default_factory=list)   # [(Task, traceback text)]

    @property
    def ok(self):
        return not self.failures



def _progress(total, desc, initial=0, every=30.0):
    # a bar on a terminal, lines on a pipe or a log file (see progress.open_progress)
    from ..progress import open_progress
    return open_progress(total, desc, initial=initial, every=every)


def run_suite(tasks, out, jobs=None, scheduler=None, desc="runs", scheduler_timeout=20.0, progress_every=30.0):
    """Execute the tasks not yet stored under ``out`` and store each result as it finishes.

    Parameters
    ----------
    tasks : list of Task
        From `plan`.
    out : str or path-like
        Results folder (created if needed).
    jobs : int, optional
        Local worker processes; default all cores. ``1`` runs in this process.
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://HOST:PORT``); overrides ``jobs``.
    desc : str
        Label of the progress bar.
    scheduler_timeout : float, default 20
        Seconds allowed for reaching the scheduler and hearing it answer as one; past
        them, `ConnectionError`.
    progress_every : float, default 30
        Seconds between progress lines where no bar can be shown (a pipe, a log file, a
        terminal of 0 columns); 0 writes one line per finished run.

    With a process pool, SIGTERM (raised as `Terminated`) and Ctrl-C shut the pool down:
    queued runs are cancelled and running workers terminated; workers whose parent dies
    outright (``kill -9``) exit by themselves within a second. Finished runs stay stored.

    Returns
    -------
    SuiteResult

    Raises
    ------
    ValueError
        If ``jobs`` is not a positive integer.
    StoreError
        Before any run starts, for a stored file that cannot be read or has another format
        version; during the suite, when a result cannot be written (disk full, read-only
        folder). The files stored before are intact either way.
    ConnectionError
        If no Dask scheduler answers at ``scheduler`` within ``scheduler_timeout`` seconds.
    """
    out = os.fspath(out)
    if jobs is None:
        jobs = os.cpu_count() or 1
    positive_int("jobs", jobs)
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the results folder {out}: {exc.strerror or exc}") from None
    res = SuiteResult()
    todo = []
    for task in tasks:
        (res.skipped if has_run(out, task) else todo).append(task)
    # longest configs first would need estimates; keep plan order (deterministic)
    bar = _progress(len(tasks), desc, initial=len(res.skipped), every=progress_every)

    def finish(task, outcome):
        ok, payload, elapsed = outcome
        if ok:
            save_run(out, task, payload, elapsed)
            res.done.append(task.key)
        else:
            res.failures.append((task, payload))
        if bar is not None:
            bar.update(1)

    try:
        if not todo:
            pass
        elif scheduler is not None:
            run_dask(todo, out, scheduler, finish, scheduler_timeout)
        elif jobs == 1 or len(todo) == 1:
            for task in todo:
                finish(task, execute(task, out))
        else:
            with terminate_raises():
                ex, workers = open_pool(min(jobs, len(todo)))
                try:
                    futures = {ex.submit(execute, task, out): task for task in todo}
                    for fut in concurrent.futures.as_completed(futures):
                        task = futures[fut]
                        try:
                            outcome = fut.result()
                        except Exception:     # the worker process died (e.g. killed, out of memory)
                            outcome = (False, traceback.format_exc(), math.nan)
                        finish(task, outcome)
                except BaseException:         # Ctrl-C, SIGTERM, a failed store: end the pool now
                    stop_pool(ex, workers)
                    raise
                ex.shutdown()
    finally:
        if bar is not None:
            bar.close()
    return res
