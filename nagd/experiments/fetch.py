"""``nagd data fetch NAME``: download MNIST or Fashion-MNIST into the data folder, verified.

Each of the four files is tried on every mirror in turn until one gives bytes
whose decompressed sha256 is the expected one (`nagd.data.DATASETS`); it is then
written decompressed to a temporary file in the destination folder and moved
into place with ``os.replace``, so an interrupted or failed fetch never leaves a
partial file under a valid name. Files already present and verified are kept.
"""
import gzip
import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .. import data
from .runner import _write_atomic

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
    """No mirror gave a verified copy of a file; the message lists each attempt."""


def destination(name, data_home=None):
    """Return the folder `fetch` writes to (where `nagd.data.load_mnist` looks).

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    data_home : str or None
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
    ds = data.DATASETS[name] if name in data.DATASETS else None
    if ds is None:
        raise ValueError(f"name must be one of {tuple(data.DATASETS)}, got {name!r}")
    root = data_home or os.environ.get("NAGD_DATA") or data.default_data_home()
    return Path(root) / ds.folder


def _verified(path, sha):
    try:
        return hashlib.sha256(data._read_bytes(path)).hexdigest() == sha
    except OSError:
        return False


def _download(url, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


def fetch(name="mnist", data_home=None, mirrors=None, timeout=60.0, files=None, log=print):
    """Download the four IDX files of a data set, verify them and store them decompressed.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}, default "mnist"
    data_home : str, os.PathLike or None
        Root folder; see `destination`.
    mirrors : sequence of str or None
        Base URLs tried in order (default `MIRRORS[name]`).
    timeout : float, default 60
        Seconds per request.
    files : dict or None
        ``{part: (file name, sha256 of the decompressed file)}``; default the
        data set's files in `nagd.data.DATASETS`.
    log : callable or None
        Called with one progress line per file.

    Returns
    -------
    pathlib.Path
        The folder holding the verified files.

    Raises
    ------
    FetchError
        If some file could not be fetched and verified from any mirror (files
        fetched before stay, verified).
    ValueError
        For an unknown name or an empty mirror list.
    """
    folder = destination(name, data_home)
    mirrors = tuple(MIRRORS[name] if mirrors is None else mirrors)
    if not mirrors:
        raise ValueError("mirrors must not be empty")
    files = data.DATASETS[name].files if files is None else files
    folder.mkdir(parents=True, exist_ok=True)
    log = log or (lambda line: None)
    for file_name, sha in files.values():
        target = folder / file_name
        if target.is_file() and _verified(target, sha):
            log(f"{target}: present, sha256 verified")
            continue
        errors = []
        for base in mirrors:
            url = base + file_name + ".gz"
            try:
                payload = _download(url, timeout)
                if payload[:2] == b"\x1f\x8b":
                    payload = gzip.decompress(payload)
            except (urllib.error.URLError, OSError, EOFError, ValueError) as exc:
                errors.append(f"  {url}: {exc}")
                continue
            digest = hashlib.sha256(payload).hexdigest()
            if digest != sha:
                errors.append(f"  {url}: sha256 of the decompressed file is {digest}, expected {sha}")
                continue
            _write_atomic(folder / file_name, payload, prefix=f".{file_name}.", suffix=".part")
            log(f"{target}: fetched from {url}, sha256 verified")
            break
        else:
            raise FetchError(f"could not fetch {file_name} of {name}; tried:\n" + "\n".join(errors))
    return folder


def main(args):
    """The ``nagd data fetch`` command: returns an exit status.

    Parameters
    ----------
    args : argparse.Namespace
        ``name``, ``data_home`` and ``timeout`` from the command line.

    Returns
    -------
    int
        0 on success, 1 when no mirror gave a verified copy.
    """
    try:
        folder = fetch(args.name, data_home=args.data_home, timeout=args.timeout,
                       log=lambda line: print(f"nagd: {line}"))
    except FetchError as exc:
        print(f"nagd data fetch: error: {exc}", file=sys.stderr)
        return 1
    print(f"nagd: {args.name} is in {folder}")
    return 0
