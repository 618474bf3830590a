"""Run an experiment suite and store every run, resumably.

A *run* is one call ``module.run(config, seed)``: a pure function of a config
(plain JSON data) and an integer seed, returning a small JSON-serialisable
dict. The runner

* derives each run's seed from ``numpy.random.SeedSequence`` and the base seed,
  the config and the run index, so a suite is deterministic given ``--seed``;
* stores every finished run at once as ``OUT/runs/<section>/<key>.json``, where
  ``key`` hashes (section, config, quick, seed); the file is written to a
  temporary name and moved into place with ``os.replace``, so a killed suite
  never leaves a partial file under a valid name;
* skips runs already stored, so an interrupted suite resumes where it stopped;
  a stored file that does not parse, fails its checksum or whose fields do not
  match its key is reported with a `CorruptResultWarning`, moved into a
  ``quarantine/`` folder beside it (with a ``.reason`` file) and run again;
* never deletes a stored file: a file it cannot read (permissions, I/O error, a
  folder in its place) or one of another format version stops the suite with a
  `StoreError` naming the file, before any run starts;
* executes runs in-process (``jobs=1``), on a local process pool (``jobs=N``)
  or on a Dask cluster (``scheduler="tcp://HOST:PORT"``);
* keeps going when a run raises: the failure (with its traceback) is returned
  in `SuiteResult.failures` and nothing else is lost.

Runs whose ``run`` function accepts a keyword ``checkpoint_dir`` get a per-run
folder ``OUT/checkpoints/<section>/<key>/`` to save partial state in.
"""
import asyncio
import concurrent.futures
import contextlib
import errno
import hashlib
import importlib
import inspect
import json
import math
import multiprocessing
import os
import secrets
import select
import signal
import stat
import struct
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._validation import positive_int

__all__ = [
    "CorruptResultWarning", "StoreError", "Terminated", "Task", "SuiteResult", "load_sections", "section_name", "targets",
    "plan", "scaled", "run_suite", "load_runs", "run_seed", "run_key", "continued_config",
]

FORMAT = 1
"""Version of the stored-run file format; a file of another version is refused (`StoreError`)."""


class CorruptResultWarning(UserWarning):
    """A stored run file was truncated or inconsistent: it is moved to ``quarantine/`` and run again."""


class StoreError(OSError):
    """A stored run cannot be read or written, or has another format version; the message names the file.

    Nothing is deleted: the files stored so far stay as they are.
    """


# ----------------------------------------------------------------------------------------------
# Sections and targets


def section_name(module):
    """Return the short name of a section module (``nagd.experiments.simple`` -> ``simple``).

    Parameters
    ----------
    module : module

    Returns
    -------
    str
    """
    name = module.__name__
    prefix = __package__ + "."
    return name[len(prefix):] if name.startswith(prefix) else name


def load_sections(names=None):
    """Import the section modules listed in ``nagd.experiments.SECTIONS`` (or in ``names``).

    Parameters
    ----------
    names : sequence of str, optional
        Module names: a bare name is looked up in ``nagd.experiments``, a dotted name
        is imported as is. Default: ``nagd.experiments.SECTIONS`` at call time.

    Returns
    -------
    dict
        ``{short_name: module}`` in the given order.

    Raises
    ------
    ValueError
        If two sections define the same target name.
    """
    if names is None:
        names = importlib.import_module(__package__).SECTIONS
    modules = {}
    for name in names:
        module = importlib.import_module(name if "." in name else f"{__package__}.{name}")
        modules[section_name(module)] = module
    targets(modules)  # checks that target names are unique
    return modules


def targets(sections):
    """Return ``{target: (section_name, [config_name, ...])}`` over all sections.

    Parameters
    ----------
    sections : dict
        ``{short_name: module}``, as returned by `load_sections`.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        If a target name appears in two sections, or names an unknown config.
    """
    out = {}
    for sname, module in sections.items():
        for target, names in module.TARGETS.items():
            if target in out:
                raise ValueError(f"target {target!r} is defined by both {out[target][0]!r} and {sname!r}")
            unknown = [n for n in names if n not in module.CONFIGS]
            if unknown:
                raise ValueError(f"target {target!r} of section {sname!r} names unknown configs {unknown}")
            out[target] = (sname, list(names))
    return out


# ----------------------------------------------------------------------------------------------
# Keys and seeds


def _canonical(obj):
    """Deterministic JSON text of plain data (sorted keys, no whitespace)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _digest(obj):
    return hashlib.sha256(_canonical(obj).encode()).hexdigest()


def continued_config(config):
    """The config of the shorter run that ``config`` continues, or None.

    A config with ``"continues": E`` (a number of epochs) extends the run of the same config at
    ``E`` epochs: it has that run's seed (`run_seed`), so it trains exactly as that run did, and it
    may start from that run's last checkpoint (`execute`). Its result is the result a run of
    ``config["epochs"]`` epochs from scratch would give.

    Parameters
    ----------
    config : dict

    Returns
    -------
    dict or None
        ``config`` without ``"continues"`` and with ``"epochs"`` set to its value.
    """
    if "continues" not in config:
        return None
    shorter = {k: v for k, v in config.items() if k != "continues"}
    shorter["epochs"] = config["continues"]
    return shorter


def run_seed(base_seed, config, index):
    """Seed of run ``index`` of ``config``: from ``SeedSequence(base_seed)`` keyed by the config.

    A config that continues a shorter run (`continued_config`) has the shorter run's seed.

    Parameters
    ----------
    base_seed : int
        The suite's ``--seed``.
    config : dict
        The run's config (plain JSON data).
    index : int
        The run's number within the config, from 0.

    Returns
    -------
    int
        A 63-bit non-negative integer, a pure function of its arguments.
    """
    config = continued_config(config) or config
    config_words = [int(_digest(config)[i:i + 8], 16) for i in range(0, 16, 8)]
    ss = np.random.SeedSequence(int(base_seed), spawn_key=(*config_words, int(index)))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def run_key(section, config, quick, seed):
    """File key of one run: a hash of (section, config, quick, seed).

    Parameters
    ----------
    section : str
        Short section name.
    config : dict
    quick : bool
    seed : int

    Returns
    -------
    str
        24 hexadecimal digits.
    """
    return _digest({"section": section, "config": config, "quick": bool(quick), "seed": int(seed)})[:24]


# ----------------------------------------------------------------------------------------------
# Planning


@dataclass(frozen=True)
class Task:
    """One run to execute (everything a worker needs, all picklable)."""

    module: str          # importable module name of the section
    section: str
    name: str            # config name
    config: dict
    quick: bool
    base_seed: int
    index: int
    seed: int
    key: str


@dataclass
class SuiteResult:
    """What `run_suite` did: stored keys, keys skipped as already stored, and failures."""

    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failures: list = field(default_factory=list)   # [(Task, traceback text)]

    @property
    def ok(self):
        return not self.failures


def scaled(config, overrides=None):
    """Return config with the keys of overrides replaced (a new dict), or config itself when there are none.

    Parameters
    ----------
    config : dict
    overrides : dict or None
        ``{key: value}``, e.g. ``{"epochs": 10}`` from ``nagd reproduce --epochs 10``.

    Returns
    -------
    dict
        A config that continued a shorter run (``"continues"``) and gets a new number of
        epochs is a run of its own, from scratch: ``"continues"`` is dropped.
    """
    if not overrides:
        return config
    out = dict(config, **overrides)
    if "epochs" in overrides and "continues" in config:
        del out["continues"]
    return out


def check_overrides(sections, target_names, overrides):
    """Refuse overrides that a chosen target's section does not declare in its ``SCALABLE``.

    Parameters
    ----------
    sections : dict
        ``{short_name: module}``.
    target_names : sequence of str
        Target names, or ``"all"``.
    overrides : dict or None
        ``{config_key: positive int}``.

    Raises
    ------
    ValueError
        Naming the option, the target that does not take it and the targets that do, or for a
        value that is not a positive integer.
    """
    if not overrides:
        return
    table = targets(sections)
    chosen = list(table) if "all" in target_names else [t for t in target_names if t in table]
    for key, value in overrides.items():
        positive_int(f"--{key}", value)
        allowed = sorted(t for t, (sname, _) in table.items() if key in getattr(sections[sname], "SCALABLE", ()))
        for t in chosen:
            if key not in getattr(sections[table[t][0]], "SCALABLE", ()):
                raise ValueError(f"--{key} does not apply to target {t!r}; it applies to: "
                                 f"{', '.join(allowed) or 'no target'}")


def plan(sections, target_names, quick=False, base_seed=0, overrides=None):
    """List the runs that ``nagd reproduce TARGET...`` needs, without running anything.

    Parameters
    ----------
    sections : dict
        ``{short_name: module}`` as from `load_sections`.
    target_names : sequence of str
        Target names, or ``"all"`` for every target of every section.
    quick : bool
        Use each module's ``QUICK`` configs instead of ``CONFIGS``.
    base_seed : int
        The suite's seed (``--seed``).
    overrides : dict, optional
        ``{config_key: value}`` set in every chosen config (``--runs``, ``--epochs``); every
        chosen target's section must list the keys in its ``SCALABLE``.

    Returns
    -------
    list of Task

    Raises
    ------
    ValueError
        For an unknown target (the message lists the valid ones), or overrides a target does
        not take.
    """
    if not _is_int(base_seed) and not isinstance(base_seed, np.integer) or base_seed < 0:
        raise ValueError(f"base_seed must be a non-negative integer, got {base_seed!r}")
    table = targets(sections)
    chosen = []
    for t in target_names:
        if t == "all":
            chosen.extend(table)
        elif t in table:
            chosen.append(t)
        else:
            raise ValueError(f"unknown target {t!r}; valid targets: {', '.join(sorted(table) + ['all'])}")
    check_overrides(sections, target_names, overrides)
    tasks, seen = [], set()
    for t in chosen:
        sname, names = table[t]
        module = sections[sname]
        source = module.QUICK if quick else module.CONFIGS
        for name in names:
            if (sname, name) in seen:
                continue
            seen.add((sname, name))
            config = scaled(source[name], overrides)
            for index in range(int(config.get("runs", 1))):
                seed = run_seed(base_seed, config, index)
                tasks.append(Task(module.__name__, sname, name, config, bool(quick), int(base_seed),
                                  index, seed, run_key(sname, config, quick, seed)))
    return tasks


# ----------------------------------------------------------------------------------------------
# Storage


def _run_path(out, section, key):
    return os.path.join(out, "runs", section, key + ".json")


def _checksum(result):
    return hashlib.sha256(_canonical(result).encode()).hexdigest()


def _write_atomic(path, data, prefix=".tmp-", suffix=".json"):
    """Write ``data`` (str or bytes) to ``path`` through a synced temporary file and ``os.replace``.

    The temporary file, named ``prefix + random + suffix``, lives in the folder of
    ``path`` (created if missing) and is removed when anything fails, so ``path``
    holds either its old content or all of ``data``. It is created with mode 0o666
    minus the umask, like any file a program writes. A symbolic link at ``path`` is replaced,
    never written through. An OSError names ``path`` (``filename``), whatever failed.
    """
    folder = os.path.dirname(os.fspath(path)) or "."
    os.makedirs(folder, exist_ok=True)
    for _ in range(100):
        tmp = os.path.join(folder, prefix + secrets.token_hex(6) + suffix)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror or str(exc), os.fspath(path)) from None
    else:
        raise FileExistsError(f"no free temporary name in {folder}")
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):     # a full disk names no file: name the one being written
            raise OSError(exc.errno, exc.strerror or str(exc), os.fspath(path)) from None
        raise


def _store(out, task, result, elapsed):
    record = {
        "format": FORMAT, "section": task.section, "name": task.name, "config": task.config,
        "quick": task.quick, "base_seed": task.base_seed, "index": task.index, "seed": task.seed,
        "key": task.key, "elapsed_s": elapsed, "result": result, "checksum": _checksum(result),
    }
    path = _run_path(out, task.section, task.key)
    try:
        _write_atomic(path, _canonical(record))
    except OSError as exc:
        raise StoreError(f"cannot store run {task.section}/{task.name} #{task.index} in {path}: "
                         f"{exc.strerror or exc}; the runs stored before are intact, rerun to resume") from None


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


class _Corrupt(ValueError):
    """A stored file is damaged or inconsistent (quarantined and rerun, never trusted)."""


class _Vanished(Exception):
    """A stored file listed a moment ago is gone: another command moved it into quarantine."""


class _TooLarge(ValueError):
    """A stored file is larger than anything nagd writes there (its size is ``size``)."""

    def __init__(self, size):
        super().__init__(f"{size} bytes")
        self.size = size


RECORD_LIMIT = 1 << 26
"""Bytes a stored run file may hold (64 MiB, far beyond any record); a larger file is corrupt and not read."""


def _file_kind(mode):
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a file"


def _read_regular(path, limit):
    """Return the content of the regular file at ``path`` (symbolic links followed), at most ``limit`` bytes.

    A FIFO, device or socket in its place is opened without waiting for a writer and never read:
    OSError "not a regular file (a FIFO)". A file larger than ``limit`` is not read: `_TooLarge`.
    """
    def opener(name, flags):
        return os.open(name, flags | getattr(os, "O_NONBLOCK", 0))
    with open(path, "rb", opener=opener) as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"not a regular file ({_file_kind(st.st_mode)})", os.fspath(path))
        if st.st_size > limit:
            raise _TooLarge(st.st_size)
        data = fh.read(limit + 1)
    if len(data) > limit:                        # it grew while being read
        raise _TooLarge(len(data))
    return data


def _read_record(path):
    """Return the stored record at ``path``.

    Every field a report reads is checked: ``section``, ``config``, ``quick`` and ``seed``
    against the key (and the key against the file name and folder), ``base_seed`` and
    ``index`` against the seed (``seed == run_seed(base_seed, config, index)``), ``result``
    against the checksum.

    Raises
    ------
    StoreError
        If the file cannot be read (permissions, I/O error, a folder, FIFO or device in its
        place), or holds a record of another format version.
    _Corrupt
        (A ValueError) saying why the file cannot be trusted.
    _Vanished
        If the file is gone (another command moved it into quarantine since it was listed).
    """
    try:
        raw = _read_regular(path, RECORD_LIMIT)
    except _TooLarge as exc:
        raise _Corrupt(f"larger than any run record ({exc.size} bytes)") from None
    except FileNotFoundError:
        if not os.path.lexists(path):           # moved aside by a concurrent command since it was listed
            raise _Vanished(path) from None
        raise StoreError(f"cannot read stored run {path}: a symbolic link to nothing (nothing was deleted: "
                         "fix it or move it away, then rerun)") from None
    except OSError as exc:
        raise StoreError(f"cannot read stored run {path}: {exc.strerror or exc} (nothing was deleted: "
                         "fix it or move it away, then rerun)") from None
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _Corrupt(f"unreadable ({type(exc).__name__}: {exc})") from None
    if not isinstance(record, dict) or "format" not in record:
        raise _Corrupt("not a run record")
    version = record["format"]
    if version != FORMAT:
        if _is_int(version) and version > 0:
            raise StoreError(f"stored run {path} has format {version}; this nagd reads and writes format "
                             f"{FORMAT}: use another --out folder or the nagd version that wrote it") from None
        raise _Corrupt(f"bad format field {version!r}")
    missing = [k for k in ("section", "name", "config", "quick", "base_seed", "index", "seed", "key", "result",
                           "checksum") if k not in record]
    if missing:
        raise _Corrupt(f"missing fields {missing}")
    bad = [k for k, ok in (("section", isinstance(record["section"], str)), ("name", isinstance(record["name"], str)),
                           ("config", isinstance(record["config"], dict)), ("quick", isinstance(record["quick"], bool)),
                           ("base_seed", _is_int(record["base_seed"]) and record["base_seed"] >= 0),
                           ("index", _is_int(record["index"]) and record["index"] >= 0),
                           ("seed", _is_int(record["seed"])), ("key", isinstance(record["key"], str)),
                           ("checksum", isinstance(record["checksum"], str))) if not ok]
    if bad:
        raise _Corrupt(f"fields of the wrong type: {bad}")
    try:
        key = run_key(record["section"], record["config"], record["quick"], record["seed"])
        seed = run_seed(record["base_seed"], record["config"], record["index"])
        ok = _checksum(record["result"]) == record["checksum"]
    except (TypeError, ValueError, OverflowError) as exc:
        raise _Corrupt(f"fields cannot be checked ({type(exc).__name__}: {exc})") from None
    if key != record["key"]:
        raise _Corrupt("key does not match the stored section, config, mode and seed")
    if os.path.basename(path) != record["key"] + ".json":
        raise _Corrupt("file name does not match the stored key")
    if os.path.basename(os.path.dirname(os.path.abspath(path))) != record["section"]:
        raise _Corrupt("folder does not match the stored section")
    if seed != record["seed"]:
        raise _Corrupt("seed does not match the stored base seed and run index")
    if not ok:
        raise _Corrupt("checksum mismatch")
    return record


def _quarantine(path, reason):
    """Move a corrupt file into ``quarantine/`` beside it, with a ``.reason`` file; return the new path.

    Returns None when the file is already gone: another command running on the same folder moved
    it aside first, which counts as done.
    """
    folder = os.path.join(os.path.dirname(path), "quarantine")
    base = os.path.basename(path)
    try:
        os.makedirs(folder, exist_ok=True)
        dest = os.path.join(folder, base)
        n = 0
        while os.path.lexists(dest) or os.path.lexists(dest + ".reason"):
            n += 1
            dest = os.path.join(folder, f"{base}.{n}")
        try:
            os.rename(path, dest)
        except FileNotFoundError:
            if not os.path.lexists(path):
                return None
            raise
        _write_atomic(dest + ".reason", f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {base}: {reason}\n",
                      suffix=".reason")
    except OSError as exc:
        raise StoreError(f"stored run {path} is corrupt ({reason}) and cannot be moved aside into {folder}: "
                         f"{exc.strerror or exc}") from None
    return dest


def _stored(out, task):
    """True if ``task`` has a valid stored result.

    A corrupt file (or one whose record is not this task's) is moved into quarantine with a
    `CorruptResultWarning` and False is returned; `StoreError` for an unreadable file or
    another format version.
    """
    path = _run_path(out, task.section, task.key)
    if not os.path.lexists(path):
        return False
    try:
        record = _read_record(path)
        mismatch = [k for k in ("name", "base_seed", "index") if record[k] != getattr(task, k)]
        if mismatch:
            raise _Corrupt(f"fields {mismatch} do not match the run {task.section}/{task.name} #{task.index}")
    except _Vanished:
        return False
    except _Corrupt as exc:
        dest = _quarantine(path, str(exc))
        where = f"moved to {dest}" if dest else "another process moved it aside first"
        warnings.warn(f"stored run {path} is corrupt ({exc}); {where}, running it again",
                      CorruptResultWarning, stacklevel=3)
        return False
    return True


def load_runs(out, section):
    """Read every valid stored run of one section.

    Corrupt files are skipped with a `CorruptResultWarning` (the next ``reproduce`` moves them
    into quarantine and reruns them); nothing is moved or deleted here.

    Parameters
    ----------
    out : str
        The output folder of the suite.
    section : str
        Short section name.

    Returns
    -------
    list of dict
        The stored records (keys ``name``, ``config``, ``quick``, ``base_seed``, ``index``,
        ``seed``, ``result``, ...), sorted by (name, quick, base_seed, index).

    Raises
    ------
    StoreError
        If a run file cannot be read, or holds a record of another format version.
    """
    folder = os.path.join(out, "runs", section)
    records = []
    if not os.path.isdir(folder):
        return records
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise StoreError(f"cannot list stored runs in {folder}: {exc.strerror or exc}") from None
    for fname in names:
        if not fname.endswith(".json") or fname.startswith("."):
            continue
        path = os.path.join(folder, fname)
        try:
            records.append(_read_record(path))
        except _Vanished:
            continue
        except _Corrupt as exc:
            warnings.warn(f"stored run {path} is corrupt ({exc}); skipped", CorruptResultWarning, stacklevel=2)
    records.sort(key=lambda r: (r["name"], r["quick"], r["base_seed"], r["index"]))
    return records


# ----------------------------------------------------------------------------------------------
# Execution


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
                _write_atomic(os.path.join(ckpt, name), fh.read(), prefix=".copy.", suffix=".part")


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
        _canonical(result)      # must be JSON data without NaN: fail here, in the run, not later
    except StoreError as exc:   # a checkpoint that cannot be read or written: the message says it all
        return False, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0
    except Exception:
        return False, traceback.format_exc(), time.perf_counter() - t0
    return True, result, time.perf_counter() - t0


def _progress(total, desc, initial=0, every=30.0):
    # a bar on a terminal, lines on a pipe or a log file (see progress.open_progress)
    from .progress import open_progress
    return open_progress(total, desc, initial=initial, every=every)


def _pool_context():
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
def _terminate_raises():
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


def _parent_gone(pid, ppid):
    if os.getppid() != ppid:                 # re-parented: whoever started us has exited
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    try:                                     # a zombie (exited, not yet reaped) is gone too
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def _watch_parent(pid, interval=0.5):
    """Pool-worker initializer: exit as soon as the suite's process ``pid`` is gone.

    Ctrl-C is left to the parent, which shuts the pool down; a parent killed outright
    (``kill -9``) leaves orphans that notice within ``interval`` seconds and exit.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGTERM"):      # a forked worker inherits the suite's handler: terminate() must end it
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    ppid = os.getppid()

    def watch():
        fd = None
        if hasattr(os, "pidfd_open"):
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                fd = None
        while True:
            if fd is not None:
                select.select([fd], [], [], interval)     # readable once the process has exited
            else:
                time.sleep(interval)
            if _parent_gone(pid, ppid):
                os._exit(1)
    threading.Thread(target=watch, daemon=True, name="nagd-parent-watch").start()


def _stop_pool(ex, grace=5.0):
    """Cancel queued runs and end the running ones now (their checkpoints stay)."""
    procs = list((getattr(ex, "_processes", None) or {}).values())     # shutdown() forgets them
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
        (res.skipped if _stored(out, task) else todo).append(task)
    # longest configs first would need estimates; keep plan order (deterministic)
    bar = _progress(len(tasks), desc, initial=len(res.skipped), every=progress_every)

    def finish(task, outcome):
        ok, payload, elapsed = outcome
        if ok:
            _store(out, task, payload, elapsed)
            res.done.append(task.key)
        else:
            res.failures.append((task, payload))
        if bar is not None:
            bar.update(1)

    try:
        if not todo:
            pass
        elif scheduler is not None:
            _run_dask(todo, out, scheduler, finish, scheduler_timeout)
        elif jobs == 1 or len(todo) == 1:
            for task in todo:
                finish(task, execute(task, out))
        else:
            with _terminate_raises():
                ex = concurrent.futures.ProcessPoolExecutor(min(jobs, len(todo)), mp_context=_pool_context(),
                                                            initializer=_watch_parent, initargs=(os.getpid(),))
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
                    _stop_pool(ex)
                    raise
                ex.shutdown()
    finally:
        if bar is not None:
            bar.close()
    return res


_REPLY_LIMIT = 1 << 24
"""Bytes a scheduler's handshake or identity may take; a longer message is refused unread."""


class _NotAScheduler(Exception):
    """What answered at the scheduler's address did not answer as a Dask scheduler does."""


def _wire_message(obj):
    """``obj`` as one message of Dask's TCP protocol: its length, the frame count and lengths, one msgpack frame."""
    import msgpack
    frame = msgpack.packb(obj, use_bin_type=True)
    body = struct.pack("QQ", 1, len(frame)) + frame
    return struct.pack("Q", len(body)) + body


async def _read_plain(stream, limit=_REPLY_LIMIT):
    """Read one message of Dask's TCP protocol as plain msgpack data; nothing in it is unpickled.

    Dask sends pickled or serialized objects in frames after the first; a message that has any
    is refused (a scheduler's handshake and identity are plain data), and no msgpack extension
    hook, import or deserializer runs on the first frame.
    """
    import msgpack
    _, count = struct.unpack("QQ", await stream.read_bytes(16))
    if not 1 <= count <= 1024:
        raise _NotAScheduler(f"a message of {count} frames")
    lengths = struct.unpack(f"{count}Q", await stream.read_bytes(8 * count))
    if sum(lengths) > limit:
        raise _NotAScheduler(f"a message of {sum(lengths)} bytes")
    if count != 1:
        raise _NotAScheduler("objects that only pickle can read")
    frame = await stream.read_bytes(lengths[0]) if lengths[0] else b""
    try:
        return msgpack.unpackb(frame, raw=False, strict_map_key=False, use_list=False)
    except Exception as exc:     # any malformed msgpack
        raise _NotAScheduler(f"bytes that are not msgpack ({type(exc).__name__})") from None


def _scheduler_location(address):
    """``(scheme, location)`` of a scheduler address; ValueError (one line) for a bad scheme, host or port."""
    from distributed.comm.addressing import parse_address, parse_host_port
    scheme, loc = parse_address(address)
    from distributed.comm import registry
    registry.get_backend(scheme)                     # "unknown address scheme ..."
    if scheme not in ("tcp", "tls"):
        raise ValueError(f"only tcp:// and tls:// addresses are supported, not {scheme}://")
    _, port = parse_host_port(loc)
    try:
        port = int(port)
    except (TypeError, ValueError):
        port = -1
    if not 1 <= port <= 65535:
        raise ValueError(f"port {parse_host_port(loc)[1]} is not in 1..65535")
    return scheme, loc


async def _identify(address, seconds):
    """Ask the scheduler at ``address`` who it is; return its reply as plain data.

    The connection is made by Dask's own TCP or TLS connector (with the TLS settings of Dask's
    configuration), but the replies are read by `_read_plain`: a listener that is not a
    scheduler cannot make this process load a pickle before it is identified.
    """
    from distributed.comm import registry
    from distributed.security import Security
    scheme, loc = _scheduler_location(address)
    connector = registry.get_backend(scheme).get_connector()
    args = Security().get_connection_args("client")
    comm = await connector.connect(loc, deserialize=False, **args)
    try:
        stream = comm.stream
        await stream.write(_wire_message(comm.handshake_info()))
        handshake = await _read_plain(stream)
        if not isinstance(handshake, dict):
            raise _NotAScheduler("a handshake that is not a mapping")
        await stream.write(_wire_message({"op": "identity", "reply": True}))
        return await _read_plain(stream)
    finally:
        comm.abort()


def _check_scheduler(address, seconds):
    """Raise ConnectionError (one line) unless a Dask scheduler answers at ``address`` within ``seconds``.

    `distributed.Client` can wait far beyond its own timeout at something that accepts
    connections but is not a scheduler, and it unpickles what it is sent, so the address is
    asked first, without unpickling anything (`_identify`), from a daemon thread with a hard
    deadline. A bad address or port is refused before any connection.
    """
    where = f"cannot reach the Dask scheduler at {address!r}"
    try:
        _scheduler_location(address)
    except ValueError as exc:
        raise ConnectionError(f"{where}: {_first_line(exc)}") from None
    box = {}

    def probe():
        try:
            box["reply"] = asyncio.run(asyncio.wait_for(_identify(address, seconds), seconds))
        except BaseException as exc:
            box["error"] = exc
    worker = threading.Thread(target=probe, daemon=True, name="nagd-scheduler-probe")
    worker.start()
    worker.join(seconds + 1.0)
    if worker.is_alive():
        raise ConnectionError(f"{where}: no answer within {seconds:g} s")
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, _NotAScheduler):
            raise ConnectionError(f"{where}: it answered, but not as a Dask scheduler (it sent {exc})")
        text = _first_line(exc)
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and not str(exc):
            text = f"no answer within {seconds:g} s"
        raise ConnectionError(f"{where}: {text}")
    reply = box.get("reply")
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        raise ConnectionError(f"{where}: it answered, but not as a Dask scheduler")


def _first_line(exc):
    """The first line of an exception's message, or its type's name when it has none."""
    return (str(exc).strip().splitlines() or [""])[0] or type(exc).__name__


def _abandon(client_type, tb):
    """Close, within a second, the Client whose constructor raised (found in its traceback ``tb``).

    Left to the garbage collector, it would wait twice its timeout for a scheduler that does not
    answer before letting the process go.
    """
    while tb is not None:
        client = tb.tb_frame.f_locals.get("self")
        if isinstance(client, client_type):
            with contextlib.suppress(Exception):
                client.close(timeout=1)
            client.status = "closed"
            with contextlib.suppress(Exception):
                client._loop_runner.stop()
            return
        tb = tb.tb_next


def _run_dask(todo, out, scheduler, finish, timeout=20.0):
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise ImportError("--scheduler needs dask.distributed: pip install 'nagd[dask]'") from None
    _check_scheduler(scheduler, timeout)
    try:
        client = Client(scheduler, set_as_default=False, timeout=f"{timeout:g}s")
    except Exception as exc:     # it answered as a scheduler, then did not behave as one
        _abandon(Client, exc.__traceback__)
        detail = type(exc).__name__ + (f": {_first_line(exc)}" if str(exc).strip() else "")
        raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler!r}: it answered as one, then failed "
                              f"({detail})") from None
    with client:
        futures = {client.submit(execute, task, out, pure=False, key=f"nagd-{task.key}"): task for task in todo}
        for fut in as_completed(list(futures), loop=client.loop):
            task = futures[fut]
            try:
                outcome = fut.result()
            except Exception:
                outcome = (False, traceback.format_exc(), math.nan)
            finish(task, outcome)
