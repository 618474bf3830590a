"""The store of finished runs: one JSON file per run, written atomically, checked when read, never deleted.

A corrupt file is moved into ``quarantine/`` beside it (with a ``.reason`` file); one that cannot be
read, or of another format version, is a `StoreError`. `write_atomic`, `read_regular` and
`quarantine` also serve the checkpoints (`nagd.experiments.checkpoint`) and the other files the
experiments write.
"""
import errno
import hashlib
import json
import os
import stat
import time
import warnings
from dataclasses import dataclass

from ..._files import write_atomic
from .keys import canonical, is_int, run_key, run_seed

__all__ = ["FORMAT", "RECORD_LIMIT", "CorruptResultWarning", "StoreError", "TooLarge", "Run", "write_atomic",
           "read_regular", "quarantine", "save_run", "has_run", "load_runs"]

FORMAT = 1
"""Version of the stored-run file format; a file of another version is refused (`StoreError`)."""


class CorruptResultWarning(UserWarning):
    """A stored run file was truncated or inconsistent: it is moved to ``quarantine/`` and run again."""


class StoreError(OSError):
    """A stored run cannot be read or written, or has another format version; the message names the file.

    Nothing is deleted: the files stored so far stay as they are.
    """



@dataclass(frozen=True)
class Run:
    """One stored run, as a section's ``report`` receives it: what ran, with which seed, and what it gave.

    Attributes
    ----------
    config : dict
        The config that ran, as stored: the section's ``CONFIGS`` or ``QUICK`` entry with any
        ``--runs``/``--epochs`` overrides applied (JSON data: tuples come back as lists).
    seed : int
        The run's seed, ``run_seed(base_seed, config, index)``.
    result : dict
        What ``module.run(config, seed)`` returned.
    """

    config: dict
    seed: int
    result: dict

    @classmethod
    def from_record(cls, record):
        """The `Run` of a stored record (a dict of `load_runs`)."""
        return cls(record["config"], record["seed"], record["result"])


def _run_path(out, section, key):
    return os.path.join(out, "runs", section, key + ".json")


def _checksum(result):
    return hashlib.sha256(canonical(result).encode()).hexdigest()


def save_run(out, task, result, elapsed):
    """Store the result of ``task`` as its record under ``out``; `StoreError` when it cannot be written."""
    record = {
        "format": FORMAT, "section": task.section, "name": task.name, "config": task.config,
        "quick": task.quick, "base_seed": task.base_seed, "index": task.index, "seed": task.seed,
        "key": task.key, "elapsed_s": elapsed, "result": result, "checksum": _checksum(result),
    }
    path = _run_path(out, task.section, task.key)
    try:
        write_atomic(path, canonical(record))
    except OSError as exc:
        raise StoreError(f"cannot store run {task.section}/{task.name} #{task.index} in {path}: "
                         f"{exc.strerror or exc}; the runs stored before are intact, rerun to resume") from None


class _Corrupt(ValueError):
    """A stored file is damaged or inconsistent (quarantined and rerun, never trusted)."""


class _Vanished(Exception):
    """A stored file listed a moment ago is gone: another command moved it into quarantine."""


class TooLarge(ValueError):
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


def read_regular(path, limit):
    """Return the content of the regular file at ``path`` (symbolic links followed), at most ``limit`` bytes.

    A FIFO, device or socket in its place is opened without waiting for a writer and never read:
    OSError "not a regular file (a FIFO)". A file larger than ``limit`` is not read: `TooLarge`.
    """
    def opener(name, flags):
        return os.open(name, flags | getattr(os, "O_NONBLOCK", 0))
    with open(path, "rb", opener=opener) as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"not a regular file ({_file_kind(st.st_mode)})", os.fspath(path))
        if st.st_size > limit:
            raise TooLarge(st.st_size)
        data = fh.read(limit + 1)
    if len(data) > limit:                        # it grew while being read
        raise TooLarge(len(data))
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
        raw = read_regular(path, RECORD_LIMIT)
    except TooLarge as exc:
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
    if not (is_int(version) and version > 0):    # true and 1.0 are not format 1 (true == 1.0 == 1 in Python)
        raise _Corrupt(f"bad format field {version!r}")
    if version != FORMAT:
        raise StoreError(f"stored run {path} has format {version}; this nagd reads and writes format "
                         f"{FORMAT}: use another --out folder or the nagd version that wrote it") from None
    missing = [k for k in ("section", "name", "config", "quick", "base_seed", "index", "seed", "key", "result",
                           "checksum") if k not in record]
    if missing:
        raise _Corrupt(f"missing fields {missing}")
    bad = [k for k, ok in (("section", isinstance(record["section"], str)), ("name", isinstance(record["name"], str)),
                           ("config", isinstance(record["config"], dict)), ("quick", isinstance(record["quick"], bool)),
                           ("base_seed", is_int(record["base_seed"]) and record["base_seed"] >= 0),
                           ("index", is_int(record["index"]) and record["index"] >= 0),
                           ("seed", is_int(record["seed"])), ("key", isinstance(record["key"], str)),
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


def quarantine(path, reason):
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
        write_atomic(dest + ".reason", f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {base}: {reason}\n",
                      suffix=".reason")
    except OSError as exc:
        raise StoreError(f"stored run {path} is corrupt ({reason}) and cannot be moved aside into {folder}: "
                         f"{exc.strerror or exc}") from None
    return dest


def has_run(out, task):
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
        dest = quarantine(path, str(exc))
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
