"""Download MNIST or Fashion-MNIST into the data folder, verified (the ``nagd data fetch`` command).

Each of the four files is tried on every mirror in turn until one gives bytes
whose decompressed sha256 is the expected one (`nagd.datasets.mnist.DATASETS`); it is then
written decompressed to a temporary file in the destination folder and moved
into place with ``os.replace``, so an interrupted or failed fetch never leaves a
partial file under a valid name. Files already present and verified are kept.

Every attempt (one file from one mirror) has a total ``deadline`` besides the
per-operation ``timeout``, and neither the download nor its decompression may grow
beyond the size of the expected file, so a slow, stalled, truncated or hostile
mirror costs bounded time and memory and the next mirror is tried.

Why not ``pooch`` (what ``scipy.datasets`` uses): it downloads one URL per file with
a per-operation timeout only, and checks the hash of the compressed download, whose
decompression it does not bound; the mirrors, the total deadline and the size caps
(against a gzip bomb) would be written around it all the same, so it would add a
dependency (with ``requests`` and ``platformdirs``) without removing code.
"""
import hashlib
import http.client
import os
import threading
import time
import urllib.error
import urllib.request

from .._files import write_atomic
from .._validation import seconds
from .idx import IDXFormatError, inflate, read_bytes
from .mnist import DATASETS, EXPECTED_BYTES, mnist_search_paths

__all__ = ["MIRRORS", "FetchError", "fetch", "destination"]

MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
}
"""Base URLs per data set; a file is fetched as ``base + name + ".gz"``."""


class FetchError(OSError):
    """No mirror gave a verified copy of a file; the message (one line) lists each attempt."""


def destination(name, data_home=None):
    """Return the folder `fetch` writes to: the first of `nagd.datasets.mnist_search_paths`.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    data_home : str, os.PathLike or None
        The root folder; default ``$NAGD_DATA``, else the per-user data folder. The data
        set's folder name is appended.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        For an unknown name.
    """
    return mnist_search_paths(name, data_home)[0]


def _verified(path, sha, limit=None):
    try:
        return hashlib.sha256(read_bytes(path, limit)).hexdigest() == sha
    except (OSError, IDXFormatError):
        return False


def _body(url, timeout, limit, box, cancel):
    """Download ``url`` into ``box["data"]`` (or ``box["error"]``); stop at the next piece once ``cancel`` is set."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            if limit is not None and length and length.isdigit() and int(length) > limit:
                raise ValueError(f"Content-Length {length} is more than the {limit} bytes the file can take")
            buf = bytearray()
            while not cancel.is_set():
                piece = resp.read1(1 << 16)     # waits at most `timeout` (the socket's timeout)
                if not piece:
                    break
                buf += piece
                if limit is not None and len(buf) > limit:
                    raise ValueError(f"more than the {limit} bytes the file can take")
            if resp.length:                # the connection closed before Content-Length bytes came
                raise http.client.IncompleteRead(bytes(buf), resp.length)
            box["data"] = bytes(buf)
    except BaseException as exc:       # handed to the waiting thread
        box["error"] = exc


def _download(url, timeout, deadline, limit=None):
    """Return the body at ``url``: ``timeout`` per network operation, ``deadline`` seconds in all.

    The download runs in a daemon thread, so nothing (name lookup, a server sending one
    byte at a time) can hold the caller beyond ``deadline``. A download cut off at the
    deadline stops by itself: at its next piece, or when a read that receives nothing
    times out (the socket's timeout is ``min(timeout, deadline)``), and closes its connection.
    """
    box, cancel = {}, threading.Event()
    worker = threading.Thread(target=_body, args=(url, min(timeout, deadline), limit, box, cancel), daemon=True,
                              name="nagd-fetch")
    start = time.monotonic()
    worker.start()
    worker.join(deadline)
    late = f"not complete after the {deadline:g} s deadline"
    if worker.is_alive():
        cancel.set()
        raise TimeoutError(late)
    if "error" in box:
        exc = box.pop("error")
        reason = getattr(exc, "reason", exc)           # urlopen wraps a timeout of its connection in URLError
        if isinstance(reason, TimeoutError) and time.monotonic() - start >= 0.999 * deadline:
            raise TimeoutError(late) from None         # the socket's timeout was the deadline's: say so
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()                # its socket: closed now, not whenever the error is collected
        try:
            raise exc
        finally:
            del exc
    return box["data"]


def _clean(text, limit=160):
    """``text`` as one line of printable characters (others escaped, as in ``repr``), cut at ``limit``.

    Error messages can repeat what a server sent: NULs, terminal escapes and line breaks stay out
    of the terminal and the log.
    """
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return text if len(text) <= limit else text[:limit] + "..."


def fetch(name="mnist", data_home=None, mirrors=None, timeout=60.0, files=None, log=print, deadline=600.0):
    """Download the four IDX files of a data set, verify them and store them decompressed.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}, default "mnist"
    data_home : str, os.PathLike or None
        Root folder; see `destination`.
    mirrors : sequence of str or None
        Base URLs tried in order (default `MIRRORS[name]`).
    timeout : float, default 60
        Seconds allowed for each network operation (connect, each read).
    files : dict or None
        ``{part: (file name, sha256 of the decompressed file)}``; default the
        data set's files in `nagd.datasets.mnist.DATASETS`. Files named in
        `nagd.datasets.mnist.EXPECTED_BYTES` are never downloaded or inflated beyond that size.
    log : callable or None
        Called with one progress line per file.
    deadline : float, default 600
        Seconds allowed for one file from one mirror in all; past it the next mirror is tried.

    Returns
    -------
    pathlib.Path
        The folder holding the verified files.

    Raises
    ------
    FetchError
        If some file could not be fetched and verified from any mirror (files
        fetched before stay, verified), or the data folder or a file cannot be
        written (a file in place of the folder, a folder in place of a file, disk full).
    ValueError
        For an unknown name, an empty mirror list, or a timeout or deadline that is not
        a positive finite number.
    """
    timeout, deadline = seconds("timeout", timeout), seconds("deadline", deadline)
    folder = destination(name, data_home)
    mirrors = tuple(MIRRORS[name] if mirrors is None else mirrors)
    if not mirrors:
        raise ValueError("mirrors must not be empty")
    files = DATASETS[name].files if files is None else files
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create the data folder {folder}: {exc.strerror or exc}") from None
    log = log or (lambda line: None)
    for file_name, sha in files.values():
        target = folder / file_name
        limit = EXPECTED_BYTES.get(file_name)
        if os.path.lexists(target) and not target.is_file():
            raise FetchError(f"{target} exists and is not a regular file: move it away and fetch again")
        if target.is_file() and _verified(target, sha, limit):
            log(f"{target}: present, sha256 verified")
            continue
        errors = []
        # gzip adds at most ~0.03% (stored blocks) plus a header: allow 1% and 4 KiB
        download_limit = None if limit is None else limit + limit // 100 + 4096
        for base in mirrors:
            url = base + file_name + ".gz"
            try:
                payload = inflate(_download(url, timeout, deadline, download_limit), limit)
            except (urllib.error.URLError, http.client.HTTPException, OSError, EOFError, ValueError) as exc:
                errors.append(f"{_clean(url)}: {type(exc).__name__}: {_clean(exc)}"
                              if isinstance(exc, http.client.HTTPException) else f"{_clean(url)}: {_clean(exc)}")
                continue
            digest = hashlib.sha256(payload).hexdigest()
            if digest != sha:
                errors.append(f"{_clean(url)}: sha256 of the decompressed file is {digest}, expected {sha}")
                continue
            try:
                write_atomic(target, payload, prefix=f".{target.name}.", suffix=".part")
            except OSError as exc:
                raise FetchError(f"cannot write {target}: {exc.strerror or exc}") from None
            log(f"{target}: fetched from {url}, sha256 verified")
            break
        else:
            where = "its mirror" if len(mirrors) == 1 else f"any of the {len(mirrors)} mirrors"
            raise FetchError(f"could not fetch {file_name} of {name} from {where}: " + "; ".join(errors))
    return folder
