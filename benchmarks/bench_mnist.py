"""Speed of the paper's MNIST network: ours (Numba/BLAS) against the same network in PyTorch on CPU.

Run by hand (not a test)::

    python benchmarks/bench_mnist.py                    # 1 and 2 threads, 3 repeats, full epochs
    python benchmarks/bench_mnist.py --threads 2 --steps 200 --repeats 5
    python benchmarks/bench_mnist.py --kernels          # im2col + BLAS against direct loops

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

    def __init__(self, X, y, threads=1):
        self.model = build_model(np.float32, seed=0)
        if threads > 1:
            self.model = DataParallel(self.model, lambda: build_model(np.float32), threads)
        self.opt = SGD(lr=0.01, momentum=0.5)
        self.X, self.y = X, y

    def train(self, steps):
        m, opt = self.model, self.opt
        for s in range(steps):
            i = (s % (self.X.shape[0] // 60)) * 60
            loss = m.loss_and_grad(self.X[i:i + 60], self.y[i:i + 60], softmax_cross_entropy, train=True)
            opt.step(m.params, m.grads, loss)

    def evaluate(self, X):
        for i in range(0, X.shape[0], 1000):
            self.model.forward(X[i:i + 1000], train=False)


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
# --kernels: im2col + BLAS (what nagd uses) against direct loops, per convolution, one thread


@numba.njit(cache=True, fastmath=True)
def direct_forward(x, w, b, out):
    """out[n, f] = b[f] + sum_{c,i,j} w[f, c, i, j] x[n, c, i:, j:] with the output row innermost."""
    N, C = x.shape[0], x.shape[1]
    F, _, kh, kw = w.shape
    oh, ow = out.shape[2], out.shape[3]
    for n in range(N):
        for f in range(F):
            for oy in range(oh):
                row = out[n, f, oy]
                for ox in range(ow):
                    row[ox] = b[f]
                for c in range(C):
                    for i in range(kh):
                        src = x[n, c, oy + i]
                        for j in range(kw):
                            wv = w[f, c, i, j]
                            for ox in range(ow):
                                row[ox] += wv * src[ox + j]


@numba.njit(cache=True, fastmath=True)
def direct_weight_grad(x, dout, dw):
    """dw[f, c, i, j] = sum_{n,y,x} dout[n, f, y, x] x[n, c, y + i, x + j]."""
    N, C = x.shape[0], x.shape[1]
    F, _, kh, kw = dw.shape
    oh, ow = dout.shape[2], dout.shape[3]
    for f in range(F):
        for c in range(C):
            for i in range(kh):
                for j in range(kw):
                    s = 0.0
                    for n in range(N):
                        for oy in range(oh):
                            d = dout[n, f, oy]
                            src = x[n, c, oy + i]
                            for ox in range(ow):
                                s += d[ox] * src[ox + j]
                    dw[f, c, i, j] = s


@numba.njit(cache=True, fastmath=True)
def direct_input_grad(dout, w, dx):
    """dx[n, c, y + i, x + j] += w[f, c, i, j] dout[n, f, y, x]."""
    N = dout.shape[0]
    F, C, kh, kw = w.shape
    oh, ow = dout.shape[2], dout.shape[3]
    dx[...] = 0.0
    for n in range(N):
        for f in range(F):
            for c in range(C):
                for i in range(kh):
                    for j in range(kw):
                        wv = w[f, c, i, j]
                        for oy in range(oh):
                            d = dout[n, f, oy]
                            dst = dx[n, c, oy + i]
                            for ox in range(ow):
                                dst[ox + j] += wv * d[ox]


def kernels_table(repeats=50):
    """Per-convolution CPU ms (one thread) of im2col + BLAS against direct loops, batch 60, float32."""
    from nagd.nn import kernels as K

    def cpu_ms(fn):
        fn()
        times = []
        for _ in range(repeats):
            t = time.process_time()
            fn()
            times.append(time.process_time() - t)
        return 1e3 * statistics.median(times)

    rng = np.random.default_rng(0)
    print("| convolution | pass | im2col + BLAS ms | direct loops ms | direct / im2col |")
    print("| --- | --- | --- | --- | --- |")
    for c, h, f in ((1, 28, 10), (10, 12, 20)):
        n, k, oh = 60, c * 25, h - 4
        m = n * oh * oh
        x = rng.standard_normal((n, c, h, h)).astype(np.float32)
        w = rng.standard_normal((f, c, 5, 5)).astype(np.float32)
        w2, b = w.reshape(f, k), np.zeros(f, np.float32)
        cols, y = np.empty((k, m), np.float32), np.empty((f, m), np.float32)
        out = np.empty((n, f, oh * oh), np.float32)
        dout = rng.standard_normal(out.shape).astype(np.float32)
        dw2, db, dx = np.empty_like(w2), np.empty(f, np.float32), np.empty_like(x)
        yt, dw2t = np.empty((m, f), np.float32), np.empty((k, f), np.float32)
        dcols, out4, dw = np.empty_like(cols), np.empty((n, f, oh, oh), np.float32), np.empty_like(w)
        none2, none4 = np.empty((0, 0), np.float32), np.empty((0, 0, 0, 0), np.float32)
        name = f"{c}x{h}x{h} -> {f}x{oh}x{oh}"
        fwd = (cpu_ms(lambda: K.conv2d_forward(x, w2, b, 5, 5, cols, y, out)),
               cpu_ms(lambda: direct_forward(x, w, b, out4)))
        dwt = (cpu_ms(lambda: K.conv2d_backward(dout, cols, w2, dw2, db, yt, dw2t, none2, none4, 5, 5, False)),
               cpu_ms(lambda: direct_weight_grad(x, dout.reshape(out4.shape), dw)))
        rows = [("forward", *fwd), ("weight gradient", *dwt)]
        if c > 1:
            full = cpu_ms(lambda: K.conv2d_backward(dout, cols, w2, dw2, db, yt, dw2t, dcols, dx, 5, 5, True))
            rows.append(("input gradient", full - dwt[0],
                         cpu_ms(lambda: direct_input_grad(dout.reshape(out4.shape), w, dx))))
        for label, a, d in rows:
            print(f"| {name} | {label} | {a:.2f} | {d:.2f} | {d / a:.1f}x |")


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
    p.add_argument("--kernels", action="store_true",
                   help="only compare im2col + BLAS with direct loops per convolution (one thread, CPU time)")
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
    libs = [Ours(X, y)] + ([torch_net] if torch_net else [])
    flop = gflop_per_epoch()
    print(f"# {platform.processor() or platform.machine()}, {numba.config.NUMBA_NUM_THREADS} cores visible, "
          f"numpy {np.__version__}, numba {numba.__version__}"
          + (f", torch {libs[1].torch.__version__}" if len(libs) > 1 else ""))
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
        if len(libs) > 1:
            libs[1].torch.set_num_threads(n)
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
