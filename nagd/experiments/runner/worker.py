"""What runs a task: `execute` (in this process, a pool worker or on a Dask worker) and the local process pool.

With a process pool (`open_pool`), SIGTERM (raised as `Terminated`) and Ctrl-C shut the pool down
(`stop_pool`): queued runs are cancelled and running workers terminated; workers whose parent dies
outright (``kill -9``) exit by themselves within a second (`watch_parent`).

The pool is `concurrent.futures.ProcessPoolExecutor`, not loky: a loky worker notices a dead parent
only when it asks for its next task (hours later, for a training run), so the parent watch would stay,
and loky's default start method re-imports and re-compiles what a forked worker has warm. The pool's
worker processes come from the context it is given to start them (`open_pool`), not from a private
attribute; the parent watch waits on a pidfd of the suite, or polls for a change of parent without one.
"""
import concurrent.futures
import contextlib
import importlib
import inspect
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
import traceback

from .keys import canonical, continued_config, run_key
from .store import StoreError, write_atomic

__all__ = ["execute", "Terminated", "pool_context", "terminate_raises", "watch_parent", "open_pool", "stop_pool"]


def _accepts_checkpoint(fn):
    try:
        return "checkpoint_dir" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _start_from_shorter_run(out, task, ckpt):
    """Copy the checkpoint of the run that ``task`` continues into ``ckpt`` when ``ckpt`` is empty.

    The shorter run's files stay as they are. Without one, the run starts from scratch, with the
    same seed, so to the same result.
    """
    shorter = continued_config(task.config)
    if shorter is None or os.listdir(ckpt):
        return
    src = os.path.join(out, "checkpoints", task.section, run_key(task.section, shorter, task.quick, task.seed))
    if not os.path.isdir(src):
        return
    for name in os.listdir(src):
        path = os.path.join(src, name)
        if os.path.isfile(path) and not name.startswith("."):
            with open(path, "rb") as fh:
                write_atomic(os.path.join(ckpt, name), fh.read(), prefix=".copy.", suffix=".part")


def execute(task, out):
    """Run one task in the current process; return ``(ok, result_or_traceback, elapsed_s)``.

    Parameters
    ----------
    task : Task
        From `plan`.
    out : str
        The output folder (for the checkpoints of sections whose ``run`` takes ``checkpoint_dir``).

    Returns
    -------
    tuple
        ``(True, result, seconds)``, or ``(False, traceback text, seconds)`` when the run raised
        or its result is not JSON data without NaN.
    """
    t0 = time.perf_counter()
    try:
        module = importlib.import_module(task.module)
        kwargs = {}
        if _accepts_checkpoint(module.run):
            ckpt = os.path.join(out, "checkpoints", task.section, task.key)
            os.makedirs(ckpt, exist_ok=True)
            _start_from_shorter_run(out, task, ckpt)
            kwargs["checkpoint_dir"] = ckpt
        result = module.run(task.config, task.seed, **kwargs)
        canonical(result)      # must be JSON data without NaN: fail here, in the run, not later
    except StoreError as exc:   # a checkpoint that cannot be read or written: the message says it all
        return False, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0
    except Exception:
        return False, traceback.format_exc(), time.perf_counter() - t0
    return True, result, time.perf_counter() - t0


def pool_context():
    """The multiprocessing context of the local pool: fork on Linux (forkserver from Python 3.12)."""
    # fork is cheap and keeps compiled Numba code warm; where fork is unsafe or unavailable
    # (macOS, Windows, a threaded parent on newer Pythons) use the platform default.
    methods = multiprocessing.get_all_start_methods()
    if sys.platform.startswith("linux") and "forkserver" in methods and sys.version_info >= (3, 12):
        return multiprocessing.get_context("forkserver")
    if sys.platform.startswith("linux") and "fork" in methods:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived while a process pool ran: the pool was shut down, stored runs are kept."""

    def __init__(self, signum):
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


@contextlib.contextmanager
def terminate_raises():
    """Within the block, SIGTERM raises `Terminated` in the main thread (as Ctrl-C raises KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return

    def handler(signum, frame):
        raise Terminated(signum)
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def watch_parent(pid, interval=0.5):
    """Pool-worker initializer: exit as soon as the suite's process ``pid`` is gone.

    Ctrl-C is left to the parent, which shuts the pool down; a parent killed outright
    (``kill -9``) leaves orphans that notice within ``interval`` seconds and exit.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGTERM"):      # a forked worker inherits the suite's handler: terminate() must end it
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    ppid = os.getppid()                 # the suite, or the forkserver that exits with it
    try:
        fd = os.pidfd_open(pid)         # Linux: readable once ``pid`` has exited, reaped or not
    except ProcessLookupError:          # gone already
        os._exit(1)
    except (AttributeError, OSError):   # no pidfd here: the change of parent alone tells
        fd = None

    def watch():
        while os.getppid() == ppid:     # an orphan is re-parented at once
            if fd is None:
                time.sleep(interval)
            elif select.select([fd], [], [], interval)[0]:
                break
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="nagd-parent-watch").start()


class _Recording:
    """A multiprocessing context that keeps the processes it starts: the pool's workers.

    `ProcessPoolExecutor` launches its workers with the context it is given (``mp_context``).
    """

    def __init__(self, context):
        self._context = context
        self.processes = []

    def __getattr__(self, name):
        return getattr(self._context, name)

    def Process(self, *args, **kwargs):
        proc = self._context.Process(*args, **kwargs)
        self.processes.append(proc)
        return proc


def open_pool(jobs):
    """A process pool of ``jobs`` workers (`pool_context`, `watch_parent`) and the list of its worker processes.

    The list fills as the pool starts its workers; `stop_pool` ends them.
    """
    context = _Recording(pool_context())
    ex = concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context, initializer=watch_parent,
                                                initargs=(os.getpid(),))
    return ex, context.processes


def stop_pool(ex, workers, grace=5.0):
    """Cancel queued runs and end the running ones now (their checkpoints stay)."""
    procs = list(workers)
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    end = time.monotonic() + grace
    for p in procs:
        p.join(max(0.0, end - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)
