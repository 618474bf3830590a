"""Where Numba caches nagd's compiled kernels, with a fallback when it has nowhere to write.

Numba caches ``@njit(cache=True)`` code in a ``__pycache__`` folder beside each source file,
else in the user's cache folder (``$XDG_CACHE_HOME/numba`` or ``~/.cache/numba``); when
neither is writable (a read-only installation and a read-only or missing ``$HOME``, as in
some containers and batch jobs) it refuses to define the function, and ``import nagd``
would fail. Imported by ``nagd/__init__.py``, this module checks that once (without
importing Numba when the package folders are writable, the usual case) and otherwise
falls back, saying so once with a `NumbaCacheWarning`:

1. to a private per-user folder in the system's temporary folder, used as
   ``NUMBA_CACHE_DIR``;
2. when no folder at all is writable (not even a temporary folder), to compiling nagd's
   kernels afresh in each process (uncached: slower start, same results). Numba has no switch
   for that, so only then is ``Dispatcher.enable_caching`` wrapped, for nagd's own functions:
   the alternative, a cache flag computed at import in each of the package's ``cache=True``
   decorators, would spread this one case over every module.

The check writes nothing: it asks the file system (``os.access``) whether the package's
``__pycache__`` folders may be written, and imports Numba only when one may not.

A ``NUMBA_CACHE_DIR`` set by the user is used as is when a file can be written there; when none
can, the warning names it and the fallbacks above apply. ``NUMBA_CACHE_LOCATOR_CLASSES`` set by
the user is left alone.
"""
import os
import warnings

__all__ = ["NumbaCacheWarning", "fallback"]

fallback = None
"""What was done: None (Numba's own cache folders work), the cache folder used, or ``"uncached"``."""


class NumbaCacheWarning(RuntimeWarning):
    """Numba's usual cache folders are not writable; nagd's kernels are cached elsewhere or not at all."""


def _package_files():
    """One source file per folder of the package (Numba's locators work per folder)."""
    root = os.path.dirname(os.path.abspath(__file__))
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
        sources = sorted(f for f in files if f.endswith(".py"))
        if sources:
            yield os.path.join(folder, sources[0])


def _in_tree_writable(py_file):
    """Numba's first choice, asked of the file system without writing anything: a ``__pycache__``
    folder the process may write to (``os.access``: permissions and read-only mounts), or none yet
    and a package folder where it may be created. Numba itself then creates and fills it."""
    folder = os.path.join(os.path.dirname(py_file), "__pycache__")
    if os.path.lexists(folder):
        return os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)
    return os.access(os.path.dirname(py_file), os.W_OK | os.X_OK)


def _locatable(caching, py_file):
    def probe():
        pass
    for cls in (caching.InTreeCacheLocator, caching.UserWideCacheLocator):
        try:
            if cls.from_function(probe, py_file) is not None:
                return True
        except Exception:      # a locator that cannot even be asked counts as unusable
            continue
    return False


def _writable(folder):
    """Whether a file can be created in ``folder`` (created if missing); else the reason, as a string."""
    probe = os.path.join(folder, f".nagd-probe-{os.getpid()}")
    try:
        os.makedirs(folder, exist_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        os.unlink(probe)
        return True
    except OSError as exc:
        return exc.strerror or str(exc)


def _private_folder():
    """A writable folder only this user can write to, or None (also when there is no temporary folder at all)."""
    import tempfile
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    try:
        folder = os.path.join(tempfile.gettempdir(), f"nagd-numba-cache-{uid}")
        os.makedirs(folder, mode=0o700, exist_ok=True)
        st = os.stat(folder, follow_symlinks=False)
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
            folder = tempfile.mkdtemp(prefix="nagd-numba-cache-")   # someone else's: a fresh one of ours
        tempfile.TemporaryFile(dir=folder).close()
        return folder
    except OSError:
        return None


def _uncached(dispatcher, caching):
    """Let nagd's functions (only) compile without a cache when Numba finds no cache folder."""
    enable = dispatcher.Dispatcher.enable_caching

    def enable_caching(self):
        try:
            enable(self)
        except RuntimeError:
            if getattr(self.py_func, "__module__", "").partition(".")[0] != __package__:
                raise
            self._cache = caching.NullCache()
    dispatcher.Dispatcher.enable_caching = enable_caching


def _setup():
    global fallback
    if os.environ.get("NUMBA_CACHE_LOCATOR_CLASSES"):
        return                  # the user's choice
    user_dir = os.environ.get("NUMBA_CACHE_DIR")
    unusable = None             # why the user's NUMBA_CACHE_DIR cannot be written
    if user_dir:
        ok = _writable(user_dir)
        if ok is True:
            return              # the user's choice, and it works
        unusable = f"NUMBA_CACHE_DIR={user_dir} cannot be written ({ok})"
    files = list(_package_files())
    if unusable is None and all(_in_tree_writable(f) for f in files):
        return                  # the usual case: decided without importing Numba
    try:
        from numba.core import caching, config, dispatcher
    except ImportError:         # no Numba: nothing to cache
        return
    if config.DISABLE_JIT or config.CACHE_LOCATOR_CLASSES or (config.CACHE_DIR and unusable is None):
        return
    if all(_locatable(caching, f) for f in files):
        if unusable is not None:     # Numba passes over it to its other folders: say so once
            warnings.warn(f"nagd: {unusable}; Numba caches nagd's compiled kernels in its usual folders",
                          NumbaCacheWarning, stacklevel=3)
        return
    folder = _private_folder()
    if folder is not None:
        config.CACHE_DIR = folder
        if unusable is None:
            os.environ.setdefault("NUMBA_CACHE_DIR", folder)    # worker processes started afresh use it too
        fallback = folder
        why = unusable or "neither the package folder nor the user cache folder is writable"
        warnings.warn(f"nagd: {why}; Numba caches nagd's compiled kernels in {folder}", NumbaCacheWarning,
                      stacklevel=3)
    else:
        _uncached(dispatcher, caching)
        fallback = "uncached"
        if unusable is None:
            text = ("no writable folder for Numba's cache; nagd's kernels are compiled afresh in each process "
                    "(set NUMBA_CACHE_DIR to a writable folder to cache them)")
        else:
            text = f"{unusable} and no other folder is; nagd's kernels are compiled afresh in each process"
        warnings.warn(f"nagd: {text}", NumbaCacheWarning, stacklevel=3)


_setup()
