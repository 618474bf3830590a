"""``import nagd`` where Numba has no writable cache folder: a fallback, said once (run in subprocesses)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nagd

CODE = """
import tempfile, warnings
{pre}
import numpy as np
import nagd, nagd.kernels
from nagd import _numba_cache
assert float(nagd.kernels.sq_norm(np.ones(3))) == 3.0
print("fallback:", _numba_cache.fallback)
"""


def _read_only_install(tmp_path):
    """A copy of the package whose folders cannot hold a __pycache__ (a file is in the way, so even root
    cannot write there), and an environment whose user cache folder cannot be created."""
    site = tmp_path / "site"
    shutil.copytree(Path(nagd.__file__).parent, site / "nagd", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in [site / "nagd", *(p for p in (site / "nagd").rglob("*") if p.is_dir())]:
        (folder / "__pycache__").write_text("not a folder")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, so nothing can be created under it")
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "NUMBA_CACHE_LOCATOR_CLASSES")}
    env.update(PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1", HOME=str(blocker / "home"),
               XDG_CACHE_HOME=str(blocker / "cache"), TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return env, blocker


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing is cached without the JIT")
@pytest.mark.parametrize("tmp_writable", [True, False])
def test_import_without_a_writable_cache_folder_falls_back_and_says_so_once(tmp_path, tmp_writable):
    env, blocker = _read_only_install(tmp_path)
    pre = "" if tmp_writable else f"tempfile.tempdir = {str(blocker / 'tmp')!r}"
    proc = subprocess.run([sys.executable, "-c", CODE.format(pre=pre)], env=env, capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("NumbaCacheWarning") == 1, proc.stderr
    if tmp_writable:
        folder = tmp_path / "tmp" / f"nagd-numba-cache-{os.getuid()}"
        assert f"fallback: {folder}" in proc.stdout and "caches nagd's compiled kernels in" in proc.stderr
        assert any(folder.rglob("*.nbi")), "nothing was cached"
    else:
        assert "fallback: uncached" in proc.stdout and "compiled afresh in each process" in proc.stderr


def test_import_writes_nothing_into_the_package_folders(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(Path(nagd.__file__).parent, site / "nagd", ignore=shutil.ignore_patterns("__pycache__"))
    caches = [p / "__pycache__" for p in [site / "nagd", *(q for q in (site / "nagd").rglob("*") if q.is_dir())]]
    for folder in caches:
        folder.mkdir()
        os.utime(folder, (1_000_000_000, 1_000_000_000))     # a file created or removed there changes this
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "NUMBA_CACHE_LOCATOR_CLASSES")}
    env.update(PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-W", "error", "-c", "import nagd; print(nagd._numba_cache.fallback)"],
                          env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "None", proc.stderr
    assert [f for f in caches if f.stat().st_mtime != 1_000_000_000 or any(f.iterdir())] == []
