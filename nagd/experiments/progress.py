"""Progress of a suite, and estimates of how long the targets take on this machine.

``nagd reproduce`` shows a bar (tqdm) on a terminal and writes progress *lines* wherever a bar
cannot be seen: to standard output when it is a pipe or a file (``nagd reproduce all > log``),
and to the terminal when it reports 0 columns or tqdm is missing. A line says how many runs are
done of the total, the time elapsed and an estimate of the time left; one is written when a run
finishes, at most every ``every`` seconds (the first and last runs always), and one every
``every`` seconds while no run finishes. ``every=0`` gives one line per finished run and no
others.

`estimate` turns the run times stored under a results folder (``elapsed_s`` of every stored run)
into a time per target for ``nagd list``.
"""
import json
import math
import os
import statistics
import sys
import threading
import time

__all__ = ["open_progress", "LineProgress", "format_duration", "plural", "run_times", "estimate"]


def plural(n, word):
    """Return ``"1 run"``, ``"2 runs"``: n and word, with an s unless n is 1."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def format_duration(seconds):
    """Return a short human duration: ``"8 s"``, ``"4 min"``, ``"2 h 05 min"``, ``"3 d 4 h"``."""
    if not math.isfinite(seconds):
        return "unknown"
    s = max(0, int(round(seconds)))
    if s < 100:
        return f"{s} s"
    m = int(round(s / 60))
    if m < 100:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m:02d} min"
    d, h = divmod(int(round(s / 3600)), 24)
    return f"{d} d {h} h"


def _columns(stream):
    """The width of the terminal behind stream, or 0 if it is not a terminal (or reports 0)."""
    try:
        fd = stream.fileno()
        if not os.isatty(fd):
            return 0
        return os.get_terminal_size(fd).columns
    except (AttributeError, OSError, ValueError):
        return 0


def _isatty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class LineProgress:
    """Progress as lines of text: ``nagd: DESC: 12/811 runs done, 40 s elapsed, about 3 min left``.

    Parameters
    ----------
    total : int
        Runs in the suite, stored ones included.
    desc : str
        What is run (the targets), shown in each line.
    stream : file
        Where the lines go (flushed after each).
    initial : int
        Runs already stored; they count as done but not in the rate behind the estimate.
    every : float
        Seconds between two lines at most while runs finish, and between lines while none does
        (a heartbeat thread); 0 writes one line per finished run and no heartbeat.
    clock : callable
        Monotonic seconds (for tests).
    """

    def __init__(self, total, desc, stream, initial=0, every=30.0, clock=time.monotonic):
        self.total, self.desc, self.stream = int(total), desc, stream
        self.initial = self.n = int(initial)
        self.every = float(every)
        self.clock = clock
        self.t0 = self.last = clock()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = None
        todo = self.total - self.n
        if todo > 0:
            self._write(f"{plural(todo, 'run')} to do" + (f", {self.n} of {self.total} already stored" if self.n else ""))
        if self.every > 0 and todo > 0:
            self._thread = threading.Thread(target=self._heartbeat, name="nagd-progress", daemon=True)
            self._thread.start()

    def line(self):
        """Return the current progress line (without the ``nagd:`` prefix)."""
        now = self.clock()
        elapsed = now - self.t0
        done_here = self.n - self.initial
        left = self.total - self.n
        if left <= 0:
            eta = "none left"
        elif done_here > 0:
            eta = f"about {format_duration(elapsed / done_here * left)} left"
        else:
            eta = "time left unknown until a run finishes"
        return f"{self.n}/{self.total} runs done, {format_duration(elapsed)} elapsed, {eta}"

    def _write(self, text):
        try:
            print(f"nagd: {self.desc}: {text}" if self.desc else f"nagd: {text}", file=self.stream, flush=True)
        except (OSError, ValueError):   # a closed pipe: progress is not worth failing the suite for
            pass
        self.last = self.clock()

    def update(self, n=1):
        """Count n more finished runs; write a line if it is time to."""
        with self._lock:
            first = self.n == self.initial
            self.n += n
            if first or self.n >= self.total or self.clock() - self.last >= self.every:
                self._write(self.line())

    def _heartbeat(self):
        while not self._closed.wait(max(self.every, 0.05) / 4):
            with self._lock:
                if not self._closed.is_set() and self.clock() - self.last >= self.every:
                    self._write(self.line())

    def close(self):
        """Stop the heartbeat (idempotent)."""
        self._closed.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
            self._thread = None


class _Both:
    """Several progress displays updated together."""

    def __init__(self, parts):
        self.parts = parts

    def update(self, n=1):
        for p in self.parts:
            p.update(n)

    def close(self):
        for p in self.parts:
            p.close()


def open_progress(total, desc, initial=0, every=30.0, out=None, err=None):
    """Return the progress display for a suite of ``total`` runs (``update(n)``, ``close()``).

    A tqdm bar on ``err`` (default standard error) if it is a terminal that reports its width
    and tqdm is installed; progress lines (`LineProgress`) on ``out`` (default standard output)
    if it is not a terminal, or if there is no bar.

    Parameters
    ----------
    total : int
    desc : str
    initial : int
        Runs already stored.
    every : float
        Seconds between progress lines (see `LineProgress`).
    out, err : file, optional

    Returns
    -------
    object
        With ``update(n=1)`` and ``close()``.
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    parts = []
    if _columns(err) > 0:
        try:
            from tqdm import tqdm
        except ImportError:   # tqdm is optional: lines instead of a bar
            pass
        else:
            parts.append(tqdm(total=total, initial=initial, desc=desc, unit="run", file=err))
    if not parts or not _isatty(out):
        parts.append(LineProgress(total, desc, out, initial=initial, every=every))
    return parts[0] if len(parts) == 1 else _Both(parts)


# ----------------------------------------------------------------------------------------------
# Estimates


def _shape(config):
    """A config without its number of runs, as canonical text (runs of one config take alike)."""
    return json.dumps({k: v for k, v in config.items() if k != "runs"}, sort_keys=True, separators=(",", ":"))


def run_times(out, sections):
    """Return ``{(section, name, quick, config without runs): [elapsed seconds, ...]}`` stored under ``out``.

    Files that cannot be read or parsed, or that have no finite ``elapsed_s``, are left out: an
    estimate is no place to report them (``nagd reproduce`` and ``nagd report`` do).

    Parameters
    ----------
    out : str
        A results folder.
    sections : iterable of str
        Section names to read.

    Returns
    -------
    dict
    """
    times = {}
    for section in sections:
        folder = os.path.join(out, "runs", section)
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for fname in names:
            if not fname.endswith(".json") or fname.startswith("."):
                continue
            try:
                with open(os.path.join(folder, fname), "rb") as fh:
                    record = json.loads(fh.read().decode("utf-8"))
                key = (record["section"], record["name"], bool(record["quick"]), _shape(record["config"]))
                elapsed = float(record["elapsed_s"])
            except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
                continue
            if math.isfinite(elapsed) and elapsed >= 0:
                times.setdefault(key, []).append(elapsed)
    return times


def estimate(tasks, times):
    """Return the computing time of tasks on one core, from the median stored time of each config.

    Parameters
    ----------
    tasks : list of runner.Task
    times : dict
        From `run_times`.

    Returns
    -------
    float or None
        Seconds, or None if some config has no stored run to go by.
    """
    total, medians = 0.0, {}
    for task in tasks:
        key = (task.section, task.name, task.quick, _shape(task.config))
        if key not in medians:
            if not times.get(key):
                return None
            medians[key] = statistics.median(times[key])
        total += medians[key]
    return total
