"""Speed of the paper's MNIST network: ours (Numba/BLAS) against the same network in PyTorch on CPU.

Run by hand (not a test)::

    python benchmarks/bench_mnist.py                    # 1 and 2 threads, 3 repeats, full epochs
    python benchmarks/bench_mnist.py --threads 2 --steps 200 --repeats 5
    python benchmarks/bench_mnist.py --kernels          # the conv products: nagd's tiles against OpenBLAS

Measures, side by side in one process and interleaved (ours, PyTorch, ours, ...):

* seconds per training epoch: 60,000 synthetic float32 images, minibatch 60 (1,000 steps of
  forward, backward and an SGD step); with ``--steps N`` only N steps are timed and the time is
  scaled to 1,000 steps;
* seconds to evaluate 10,000 images (eval mode, batches of 1,000);
* the arithmetic rate of a training epoch, 155.7 GFLOP (forward + backward, counting
  multiply-adds as 2 FLOP; the first convolution needs no input gradient), against the
  machine's float32 matmul peak (a 2048 x 2048 product) with the same thread count.

Both libraries get the same thread count: ours splits each minibatch over that many replicas
of the network in threads (`nagd.nn.DataParallel`, OpenBLAS capped at one thread, as
``nagd reproduce`` runs it), PyTorch gets ``torch.set_num_threads``. The matmul peak uses that
many OpenBLAS threads. Medians over repeats. PyTorch is optional.
"""
import argparse
import os
import platform
import statistics
import time

import numba
import numpy as np

from nagd.experiments.mnist import build_model
from nagd.nn import DataParallel, softmax_cross_entropy
from nagd.optim import SGD

GFLOP_PER_EPOCH = 155.7


def gflop_per_epoch():
    """FLOPs of one training epoch (1,000 steps of 60 images), from the layer shapes."""
    n = 60
    conv1 = 2 * n * 24 * 24 * 10 * 25          # forward; backward: weights only
    conv2 = 2 * n * 8 * 8 * 20 * 250           # forward; backward: weights and input
    fc1, fc2 = 2 * n * 320 * 50, 2 * n * 50 * 10
    return 1000 * (2 * conv1 + 3 * conv2 + 3 * fc1 + 3 * fc2) / 1e9


def _openblas_threads(n):
    """Cap NumPy's and SciPy's OpenBLAS (not PyTorch's libraries) at n threads; None without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits={"libscipy_openblas": n})


def matmul_peak(n=2048, repeats=5):
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    a @ a
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(times) / 1e9


class Ours:
    name = "nagd"

    def __init__(self, X, y, threads=1, layers=None, name=None):
        make = (lambda: build_model(np.float32, seed=0)) if layers is None else (lambda: _paper_net(layers))
        self.model = make()
        if threads > 1:
            self.model = DataParallel(self.model, make, threads)
        self.opt = SGD(lr=0.01, momentum=0.5)
        self.X, self.y = X, y
        if name:
            self.name = name

    def train(self, steps):
        m, opt = self.model, self.opt
        for s in range(steps):
            i = (s % (self.X.shape[0] // 60)) * 60
            loss = m.loss_and_grad(self.X[i:i + 60], self.y[i:i + 60], softmax_cross_entropy, train=True)
            opt.step(m.params, m.grads, loss)

    def evaluate(self, X):
        for i in range(0, X.shape[0], 1000):
            self.model.forward(X[i:i + 1000], train=False)


def _paper_net(L):
    """`build_model`'s network (float32, seed 0) built from the layer classes of the module L."""
    from nagd.nn import Sequential
    return Sequential([L.Conv2D(10, 5, input_grad=False), L.MaxPool2D(2), L.ReLU(), L.Conv2D(20, 5), L.Dropout2d(0.5),
                       L.MaxPool2D(2), L.ReLU(), L.Flatten(), L.Dense(50), L.ReLU(), L.Dropout(0.5), L.Dense(10)],
                      (1, 28, 28), dtype=np.float32, seed=0)


def baseline_layers(rev):
    """The layers module of nagd.nn at git revision rev, importable beside the current one.

    Its layers.py and kernels.py (and conv_kernels.py, _tiles.py and _simd.py where it has them) are
    copied from ``git show`` into a temporary package, so that both versions train side by side in one
    process (its kernels are compiled afresh, uncached between runs).
    """
    import importlib
    import subprocess
    import sys
    import tempfile
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pkg = os.path.join(tempfile.mkdtemp(prefix="nagd-baseline-"), "nagd_baseline_nn")
    os.makedirs(pkg)
    for name in ("layers.py", "kernels.py", "conv_kernels.py", "_tiles.py", "_simd.py"):
        out = subprocess.run(["git", "-C", root, "show", f"{rev}:nagd/nn/{name}"], capture_output=True, text=True)
        if out.returncode:
            if name not in ("layers.py", "kernels.py"):
                continue
            raise SystemExit(f"--baseline {rev}: {out.stderr.strip()}")
        src = out.stdout.replace("from .._validation", "from nagd._validation").replace(
            "from .model import", "from nagd.nn.model import")
        with open(os.path.join(pkg, name), "w") as f:
            f.write(src)
    open(os.path.join(pkg, "__init__.py"), "w").close()
    sys.path.insert(0, os.path.dirname(pkg))
    return importlib.import_module("nagd_baseline_nn.layers")


class Torch:
    name = "PyTorch"

    def __init__(self, X, y):
        import torch
        nn, F = torch.nn, torch.nn.functional
        torch.manual_seed(0)

        class Net(nn.Module):                # PyTorch's MNIST example
            def __init__(self):
                super().__init__()
                self.conv1, self.conv2 = nn.Conv2d(1, 10, 5), nn.Conv2d(10, 20, 5)
                self.drop2d, self.fc1, self.fc2 = nn.Dropout2d(), nn.Linear(320, 50), nn.Linear(50, 10)

            def forward(self, x):
                x = F.relu(F.max_pool2d(self.conv1(x), 2))
                x = F.relu(F.max_pool2d(self.drop2d(self.conv2(x)), 2))
                x = F.relu(self.fc1(x.view(-1, 320)))
                return self.fc2(F.dropout(x, training=self.training))

        self.torch, self.F = torch, F
        self.net = Net()
        self.opt = torch.optim.SGD(self.net.parameters(), lr=0.01, momentum=0.5)
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y)

    def train(self, steps):
        self.net.train()
        for s in range(steps):
            i = (s % (self.X.shape[0] // 60)) * 60
            self.opt.zero_grad()
            loss = self.F.cross_entropy(self.net(self.X[i:i + 60]), self.y[i:i + 60])
            loss.backward()
            self.opt.step()

    def evaluate(self, X):
        self.net.eval()
        X = self.torch.from_numpy(X)
        with self.torch.no_grad():
            for i in range(0, X.shape[0], 1000):
                self.net(X[i:i + 1000])


# ------------------------------------------------------------------------------------------------
# --kernels: the second convolution's three products, nagd's register tiles against OpenBLAS


@numba.njit(cache=True, nogil=True)
def _blas_products(a, b3, c3):
    """c3[i] = a @ b3[i] for each chunk i (np.dot: BLAS)."""
    for i in range(b3.shape[0]):
        np.dot(a, b3[i], c3[i])


@numba.njit(cache=True, nogil=True)
def _blas_weight_grad(cols3, dyt3, dwt):
    """dwt = sum over chunks i of cols3[i] @ dyt3[i] (np.dot, the orientation nagd used with BLAS)."""
    part = np.empty_like(dwt)
    dwt[:] = 0.0
    for i in range(cols3.shape[0]):
        np.dot(cols3[i], dyt3[i], part)
        dwt += part


def kernels_table(repeats=30):
    """CPU µs (one thread) of the second convolution's products for a minibatch of 60 (float32): nagd's tiles
    (`nagd.nn._tiles._products` and `_dots`, on the layer's chunks) against OpenBLAS (np.dot in compiled
    code) on the same chunks and on the whole batch at once (what nagd did before). Interleaved; medians."""
    from nagd.nn import _tiles as K
    from nagd.nn.layers import Conv2D

    rng = np.random.default_rng(0)
    n, c, h, f = 60, 10, 12, 20
    k, p = c * 25, 64
    layer = Conv2D(f, 5)
    layer.build((c, h, h))
    chunk = layer._chunk(np.float32)[1]
    vl = 16
    mp = -(-chunk * p // (4 * vl)) * 4 * vl
    kp, fp = -(-k // 4) * 4, -(-f // 4) * 4
    m = n * p
    cols = rng.standard_normal((k, m)).astype(np.float32)
    w2 = rng.standard_normal((f, k)).astype(np.float32)
    dy = rng.standard_normal((f, m)).astype(np.float32)
    dyt = np.ascontiguousarray(dy.T)
    # nagd's layout: a chunk's matrices padded to Mp columns (and K, F to multiples of 4)
    cols_c = np.zeros(kp * mp, np.float32)
    cols_c.reshape(kp, mp)[:k, :chunk * p] = cols[:, :chunk * p]
    dy_c = np.zeros(fp * mp, np.float32)
    dy_c.reshape(fp, mp)[:f, :chunk * p] = dy[:, :chunk * p]
    w2t = np.zeros((k, fp), np.float32)
    w2t[:, :f] = w2.T
    w2p = np.zeros((f, kp), np.float32)
    w2p[:, :k] = w2
    y_c, dcols_c = np.empty(fp * mp, np.float32), np.empty(kp * mp, np.float32)
    acc = np.zeros(kp * fp * vl, np.float32)
    aoff = (np.arange(kp) * mp).astype(np.uint64)
    boff = (np.arange(fp) * mp).astype(np.uint64)
    zeros_k, zeros_f = np.zeros(kp, np.float32), np.zeros(fp, np.float32)
    n_chunks = -(-n // chunk)
    assert n_chunks * chunk == n

    def per_chunk(a, rows):                 # (n_chunks, rows, chunk*P), each chunk contiguous
        return np.ascontiguousarray(a.reshape(rows, n_chunks, chunk * p).transpose(1, 0, 2))

    cols3, dy3 = per_chunk(cols, k), per_chunk(dy, f)
    dyt3 = np.ascontiguousarray(dy3.transpose(0, 2, 1))
    y3, dcols3 = np.empty((n_chunks, f, chunk * p), np.float32), np.empty((n_chunks, k, chunk * p), np.float32)
    y1, dcols1 = np.empty((1, f, m), np.float32), np.empty((1, k, m), np.float32)
    dwt = np.empty((k, f), np.float32)
    w2_t = w2.T                              # F-contiguous: BLAS transposes it

    def ours_fwd():
        for _ in range(n_chunks):
            K._products(w2t.reshape(-1), fp, cols_c, aoff, k, y_c, mp, fp, mp, zeros_f)

    def ours_dw():
        for _ in range(n_chunks):
            K._dots(cols_c, aoff, dy_c, boff, mp, acc)

    def ours_dx():
        for _ in range(n_chunks):
            K._products(w2p.reshape(-1), kp, dy_c, boff, f, dcols_c, mp, kp, mp, zeros_k)

    cases = [
        ("forward: y = w2 @ cols", ours_fwd, lambda: _blas_products(w2, cols3, y3),
         lambda: _blas_products(w2, cols[None], y1)),
        ("weight gradient: dw2 = dy @ cols.T", ours_dw, lambda: _blas_weight_grad(cols3, dyt3, dwt),
         lambda: _blas_weight_grad(cols[None], dyt[None], dwt)),
        ("input gradient: dcols = w2.T @ dy", ours_dx, lambda: _blas_products(w2_t, dy3, dcols3),
         lambda: _blas_products(w2_t, dy[None], dcols1)),
    ]
    times = {(name, i): [] for name, *_ in cases for i in range(3)}
    for _, *fns in cases:
        for fn in fns:
            fn()
    for _ in range(repeats):
        for name, *fns in cases:
            for i, fn in enumerate(fns):
                t = time.thread_time()
                fn()
                times[(name, i)].append(time.thread_time() - t)
    flop = 2 * k * f * m
    print(f"OpenBLAS kernels: {_blas_architecture()}; nagd tiles: {_tiles()}; chunks of {chunk} images")
    print("| product (10x12x12 -> 20x8x8, batch 60) | nagd tiles µs | OpenBLAS, same chunks µs | OpenBLAS, whole "
          "batch µs | nagd GFLOP/s | nagd / BLAS (chunks) | nagd / BLAS (whole) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, *_ in cases:
        a, b, c_ = (1e6 * statistics.median(times[(name, i)]) for i in range(3))
        print(f"| {name} | {a:.0f} | {b:.0f} | {c_:.0f} | {flop / a / 1e3:.0f} | {a / b:.2f}x | {a / c_:.2f}x |")


def _blas_architecture():
    """The OpenBLAS kernels in use (threadpoolctl's 'architecture') and OPENBLAS_CORETYPE if set."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401
        from threadpoolctl import threadpool_info
        arch = sorted({i.get("architecture", "?") for i in threadpool_info() if i.get("internal_api") == "openblas"})
    except ImportError:
        arch = ["?"]
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return "/".join(arch) + (f" (OPENBLAS_CORETYPE={forced})" if forced else "")


def _cpu():
    """The CPU's model name (/proc/cpuinfo where there is one), LLVM's name for it and its widest vectors."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import llvmlite.binding as llvm
        features = llvm.get_host_cpu_features()
        width = "AVX-512" if features.get("avx512f") else "AVX2" if features.get("avx2") else "SSE/other"
        return f"{name} ({llvm.get_host_cpu_name()}, {width})"
    except Exception:
        return name


def _tiles():
    from nagd.nn import _simd
    return f"{'AVX-512 (32 registers of 64 bytes)' if _simd.WIDE else 'narrow registers'}, " \
           f"{'FMA' if _simd.FMA else 'no FMA'}"


# ------------------------------------------------------------------------------------------------
# --layers: where a training step's time goes, layer by layer, forward and backward, against PyTorch


def _timed(fn, calls):
    """(wall µs, CPU µs of the process) per call of fn, over ``calls`` calls."""
    t, c = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t) * 1e6 / calls, (time.process_time() - c) * 1e6 / calls


def layers_table(threads, repeats, calls=20, torch_ok=True):
    """Print per-layer µs of one training step, forward and backward, ours against PyTorch, interleaved.

    Ours: each step of the model (a layer, or a run of layers computed as one pass,
    `nagd.nn.layers.ConvBlock`) with ``forward(x, train=True)`` and ``backward(dout)`` on the
    activations of a real step, for one replica's share of the minibatch (60 / threads images, one
    thread: with n threads, n replicas run this at once on n cores). PyTorch: the same layers on the
    whole minibatch of 60 with ``torch.set_num_threads(threads)``, its forward building the autograd
    graph as in training, its backward run on the retained graph. Then the loss (forward and
    backward), the optimizer step and a whole training step of each. Medians of ``repeats`` rounds of
    ``calls`` calls each.
    """
    from nagd.nn import Sequential
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 60)
    _openblas_threads(1)
    nb = 60 // threads
    model = build_model(np.float32, seed=0)
    assert isinstance(model, Sequential)
    opt = SGD(lr=0.01, momentum=0.5)
    layer_names = ["conv1", "pool1", "relu1", "conv2", "dropout2d", "pool2", "relu2", "flatten", "fc1", "relu3",
                   "dropout", "fc2"]
    assert len(layer_names) == len(model.layers), model
    steps = model._steps()
    groups, i = [], 0                            # the layer indices of each step
    for step in steps:
        k = len(getattr(step, "layers", [step]))
        groups.append(list(range(i, i + k)))
        i += k
    names = [" + ".join(layer_names[j] for j in g) for g in groups]
    xs = [X[:nb]]
    for step in steps:                           # the activations of one step
        xs.append(step.forward(xs[-1], train=True))
    _, d = softmax_cross_entropy(xs[-1], y[:nb])
    douts = [None] * len(steps)
    for i in reversed(range(len(steps))):
        douts[i] = d
        d = steps[i].backward(d)

    ours = {}
    for i, (name, step) in enumerate(zip(names, steps)):
        x_i, d_i = xs[i], douts[i]
        ours[name] = (lambda step=step, x_i=x_i: step.forward(x_i, train=True),
                      lambda step=step, d_i=d_i: step.backward(d_i))
    scores = xs[-1]
    ours["loss"] = (lambda: softmax_cross_entropy(scores, y[:nb]), None)   # value and gradient in one call
    ours["optimizer step"] = (lambda: opt.step(model.params, model.grads, 1.0), None)
    full_model = build_model(np.float32, seed=0)
    if threads > 1:
        full_model = DataParallel(full_model, lambda: build_model(np.float32), threads)
    full_opt = SGD(lr=0.01, momentum=0.5)

    def our_step():
        loss = full_model.loss_and_grad(X, y, softmax_cross_entropy, train=True)
        full_opt.step(full_model.params, full_model.grads, loss)

    theirs, rebuild = {}, {}
    if torch_ok:
        import torch
        F = torch.nn.functional
        torch.set_num_threads(threads)
        tnet = Torch(X, y)
        net = tnet.net
        net.train()
        tlayers = [net.conv1, lambda x: F.max_pool2d(x, 2), F.relu, net.conv2, net.drop2d,
                   lambda x: F.max_pool2d(x, 2), F.relu, lambda x: x.view(-1, 320), net.fc1, F.relu,
                   lambda x: F.dropout(x, training=True), net.fc2]
        tx = torch.from_numpy(X)
        ty = torch.from_numpy(y)
        rebuild = {}

        def chain(fns):
            def run(x):
                for fn in fns:
                    x = fn(x)
                return x
            return run

        for name, group in zip(names, groups):
            fn = chain([tlayers[j] for j in group])
            inp = tx.detach().requires_grad_(group[0] != 0)    # conv1: no input gradient, as in training
            graph = {}

            def build(fn=fn, inp=inp, graph=graph):            # before each round: the optimizer steps
                graph["out"] = out = fn(inp)                    # change the parameters in place
                graph["g"] = torch.ones_like(out)

            build()
            rebuild[name] = build
            theirs[name] = (lambda fn=fn, inp=inp: fn(inp),
                            lambda graph=graph: graph["out"].backward(graph["g"], retain_graph=True))
            tx = graph["out"].detach()
        tscores = tx.detach().requires_grad_(True)
        loss_graph = {}

        def build_loss():
            loss_graph["out"] = F.cross_entropy(tscores, ty)

        build_loss()
        rebuild["loss"] = build_loss
        theirs["loss"] = (lambda: F.cross_entropy(tscores, ty),
                          lambda: loss_graph["out"].backward(retain_graph=True))
        for p_ in net.parameters():
            p_.grad = torch.zeros_like(p_)
        theirs["optimizer step"] = (lambda: tnet.opt.step(), None)

        def their_step():
            tnet.opt.zero_grad()
            loss = F.cross_entropy(net(tnet.X[:60]), tnet.y[:60])
            loss.backward()
            tnet.opt.step()
    rows = list(ours)
    res = {(lib, row, part): [] for lib in ("nagd", "PyTorch") for row in rows for part in (0, 1)}
    steps = {"nagd": [], "PyTorch": []}
    our_step()                                                          # warm up
    if torch_ok:
        their_step()
    for lib, table in (("nagd", ours), ("PyTorch", theirs)):
        for row, fns in table.items():
            for part, fn in enumerate(fns):
                if fn is not None:
                    if part == 1 and lib == "PyTorch":
                        rebuild[row]()
                    fn()
    limits = _openblas_threads(1)
    for _ in range(repeats):
        for row in rows:
            for part in (0, 1):
                for lib, table in (("nagd", ours), ("PyTorch", theirs)):
                    fn = table.get(row, (None, None))[part]
                    if fn is not None and part == 1 and lib == "PyTorch":
                        rebuild[row]()
                    if fn is not None:
                        res[(lib, row, part)].append(_timed(fn, calls))
        steps["nagd"].append(_timed(our_step, calls))
        if torch_ok:
            steps["PyTorch"].append(_timed(their_step, calls))
    if limits is not None:
        limits.restore_original_limits()

    def med(lib, row, part, k=0):
        v = res[(lib, row, part)]
        return statistics.median(x[k] for x in v) if v else None

    def cell(v):
        return "—" if v is None else f"{v:.0f}"

    def ratio(a, b):
        return "—" if a is None or b is None else f"{a / b:.2f}x"

    print(f"\n{threads} thread(s): ours on {nb} images per replica (one thread each), PyTorch on 60 with "
          f"{threads} thread(s); CPU µs per call (process time; wall µs in brackets), median of {repeats} x {calls}")
    print("| layers | nagd forward | PyTorch forward | forward vs PyTorch | nagd backward | PyTorch backward "
          "| backward vs PyTorch |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    tot = {(lib, part, k): 0.0 for lib in ("nagd", "PyTorch") for part in (0, 1) for k in (0, 1)}
    for row in rows:
        cells = []
        for part in (0, 1):
            for lib in ("nagd", "PyTorch"):
                for k in (0, 1):
                    v = med(lib, row, part, k)
                    if v is not None:
                        tot[(lib, part, k)] += v
            a, b = med("nagd", row, part, 1), med("PyTorch", row, part, 1)
            aw, bw = med("nagd", row, part, 0), med("PyTorch", row, part, 0)
            cells += [f"{cell(a)} ({cell(aw)})" if a is not None else "—",
                      f"{cell(b)} ({cell(bw)})" if b is not None else "—", ratio(a, b)]
        print(f"| {row} | " + " | ".join(cells) + " |")
    cells = []
    for part in (0, 1):
        a, b = tot[("nagd", part, 1)], tot[("PyTorch", part, 1)]
        cells += [f"{a:.0f} ({tot[('nagd', part, 0)]:.0f})", f"{b:.0f} ({tot[('PyTorch', part, 0)]:.0f})",
                  ratio(a, b or None)]
    print("| sum | " + " | ".join(cells) + " |")
    s_a, s_aw = statistics.median(x[1] for x in steps["nagd"]), statistics.median(x[0] for x in steps["nagd"])
    if steps["PyTorch"]:
        s_b, s_bw = statistics.median(x[1] for x in steps["PyTorch"]), statistics.median(x[0] for x in steps["PyTorch"])
        their = f"{s_b:.0f} ({s_bw:.0f})"
    else:
        s_b, their = None, "—"
    print(f"| whole training step (60 images, {threads} thread(s)) | {s_a:.0f} ({s_aw:.0f}) | {their} "
          f"| {ratio(s_a, s_b)} | | | |")


def _worker(steps, threads, start):
    """Train ``steps`` minibatches of 60 with ``threads`` replicas, BLAS at one thread, starting at the
    wall-clock time ``start`` (after imports and warm-up); print the wall-clock time at the end."""
    import scipy.linalg.cython_blas  # noqa: F401  (load the BLAS the kernels use, so the cap reaches it)
    _openblas_threads(1)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6000, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 6000)
    lib = Ours(X, y, threads=threads)
    lib.train(3)
    time.sleep(max(0.0, start - time.time()))
    lib.train(steps)
    print(time.time())


def many_runs(steps, repeats):
    """Throughput of independent runs on all cores: one single-threaded run per core (processes) against
    one run at a time with one replica per core (`DataParallel`). Wall seconds for the same total work."""
    import subprocess
    import sys
    cores = os.cpu_count()

    def timed(jobs, steps_each, threads):
        # every worker imports and warms up, then all start training at the same moment
        start = time.time() + 30.0
        cmd = [sys.executable, __file__, "--worker-steps", str(steps_each), "--worker-threads", str(threads),
               "--worker-start", str(start)]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(jobs)]
        ends = [float(p.communicate()[0].split()[-1]) for p in procs]
        return max(ends) - start

    def per_core():
        return timed(cores, steps, 1)

    def replicas():
        return timed(1, steps * cores, cores)

    a, b = [], []
    for _ in range(repeats):
        a.append(per_core())
        b.append(replicas())
    a, b = statistics.median(a), statistics.median(b)
    print(f"{cores} cores, {steps * cores} steps of 60 images in all (training only), "
          f"median of {repeats}:")
    print(f"| schedule | wall s | steps per second |\n| --- | --- | --- |\n"
          f"| one single-threaded run per core | {a:.1f} | {steps * cores / a:.1f} |\n"
          f"| one run at a time, {cores} replicas (DataParallel) | {b:.1f} | {steps * cores / b:.1f} |")
    print(f"replicas / per-core wall: {b / a:.2f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--steps", type=int, default=1000, help="training steps timed per repeat (scaled to 1,000)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--baseline", metavar="REV",
                   help="also time nagd.nn's layers as they were at git revision REV, side by side")
    p.add_argument("--kernels", action="store_true",
                   help="only compare the second convolution's products: nagd's tiles against OpenBLAS (one thread)")
    p.add_argument("--layers", action="store_true",
                   help="only time each layer's forward and backward pass, ours against PyTorch's, per thread count")
    p.add_argument("--many-runs", action="store_true",
                   help="only compare one run per core with one run at a time on replicas (throughput)")
    p.add_argument("--worker-steps", type=int, help=argparse.SUPPRESS)
    p.add_argument("--worker-threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--worker-start", type=float, default=0.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker_steps:
        _worker(args.worker_steps, args.worker_threads, args.worker_start)
        return
    if args.many_runs:
        print(f"# load average at the start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        many_runs(args.steps, args.repeats)
        print(f"# load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        return
    if args.layers:
        torch_ok = not args.no_torch
        if torch_ok:
            try:
                import torch  # noqa: F401
            except ImportError:
                print("PyTorch is not installed: ours only")
                torch_ok = False
        print(f"# {_cpu()}, numpy {np.__version__}, numba {numba.__version__}")
        print(f"# OpenBLAS kernels: {_blas_architecture()}; nagd tiles: {_tiles()}")
        print(f"# load average at the start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        for n in args.threads:
            layers_table(n, args.repeats, torch_ok=torch_ok)
        print(f"# load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        return
    if args.kernels:
        _openblas_threads(1)
        kernels_table()
        return

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60000, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 60000)
    Xt = X[:10000]
    torch_net = None
    if not args.no_torch:
        try:
            torch_net = Torch(X, y)
        except ImportError:
            print("PyTorch is not installed: ours only")
    base = baseline_layers(args.baseline) if args.baseline else None
    base_name = f"nagd at {args.baseline}"
    libs = [Ours(X, y)] + ([Ours(X, y, layers=base, name=base_name)] if base else []) + \
        ([torch_net] if torch_net else [])
    flop = gflop_per_epoch()
    print(f"# OpenBLAS kernels: {_blas_architecture()}; nagd tiles: {_tiles()}")
    print(f"# {_cpu()}, {numba.config.NUMBA_NUM_THREADS} cores visible, "
          f"numpy {np.__version__}, numba {numba.__version__}"
          + (f", torch {torch_net.torch.__version__}" if torch_net else ""))
    print(f"# load average at the start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"# {flop:.1f} GFLOP per training epoch; {args.steps} steps timed per repeat, scaled to 1,000; "
          f"median of {args.repeats}")
    rows = []
    for n in args.threads:
        limits = _openblas_threads(n)
        peak = matmul_peak()
        if limits is not None:
            limits.restore_original_limits()
        limits = _openblas_threads(1)
        libs[0] = Ours(X, y, threads=n)
        if base:
            libs[1] = Ours(X, y, threads=n, layers=base, name=base_name)
        if torch_net:
            torch_net.torch.set_num_threads(n)
        for lib in libs:               # warm up: compile, allocate
            lib.train(3)
            lib.evaluate(Xt[:1000])
        epoch = {lib.name: [] for lib in libs}
        evals = {lib.name: [] for lib in libs}
        cpu = {lib.name: [] for lib in libs}
        eval_cpu = {lib.name: [] for lib in libs}
        for _ in range(args.repeats):
            for lib in libs:
                t, c = time.perf_counter(), time.process_time()
                lib.train(args.steps)
                epoch[lib.name].append((time.perf_counter() - t) * 1000 / args.steps)
                cpu[lib.name].append((time.process_time() - c) * 1000 / args.steps)
                t, c = time.perf_counter(), time.process_time()
                lib.evaluate(Xt)
                evals[lib.name].append(time.perf_counter() - t)
                eval_cpu[lib.name].append(time.process_time() - c)
        for lib in libs:
            e, v = statistics.median(epoch[lib.name]), statistics.median(evals[lib.name])
            rows.append((n, lib.name, e, v, flop / e, peak, statistics.median(cpu[lib.name]),
                         statistics.median(eval_cpu[lib.name])))
        if limits is not None:
            limits.restore_original_limits()
    print("| threads | library | s / training epoch | CPU s / training epoch | s / eval of 10,000 | CPU s / eval "
          "| GFLOP/s | % of matmul peak | epoch vs PyTorch | CPU vs PyTorch | eval vs PyTorch |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    ref = {(r[0]): r for r in rows if r[1] == "PyTorch"}
    for n, name, e, v, rate, peak, c, vc in rows:
        vs = ref.get(n)
        ratio_e = f"{e / vs[2]:.2f}x" if vs else "—"
        ratio_c = f"{c / vs[6]:.2f}x" if vs else "—"
        ratio_v = f"{v / vs[3]:.2f}x" if vs else "—"
        print(f"| {n} | {name} | {e:.2f} | {c:.2f} | {v:.3f} | {vc:.3f} | {rate:.1f} | {100 * rate / peak:.1f}% of {peak:.0f} "
              f"| {ratio_e} | {ratio_c} | {ratio_v} |")
    print(f"# load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
