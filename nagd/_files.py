"""Files written whole or not at all: the one atomic writer of the package.

It sits beside the layers, as `nagd._validation` does: the experiments' store, checkpoints and
report, and the downloader of `nagd.datasets`, all write through it; it imports nothing of nagd.
"""
import os
import secrets

__all__ = ["write_atomic"]


def write_atomic(path, data, prefix=".tmp-", suffix=".json"):
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
