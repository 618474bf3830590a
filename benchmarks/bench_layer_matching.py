"""Speed of the section-3 layer-matching task, run by hand (not a test)::

    python benchmarks/bench_layer_matching.py                 # step costs and the full section
    python benchmarks/bench_layer_matching.py --skip-section  # step costs only
    python benchmarks/bench_layer_matching.py --repeats 21

Prints Markdown tables; every figure is a median over repeats, and the step costs are measured
interleaved in one process (compiled, NumPy, PyTorch, compiled, ...), so their ratios compare
timings taken side by side. Each is given as wall time and as CPU time of the process
(``time.process_time``), which leaves out the time the process waits while other processes
use the cores (on a shared machine the wall-time medians include such waits):

(a) nanoseconds per training step (minibatch 1, distance loss, float64 and float32) of
    - the compiled whole run (`layer_matching.train_compiled`), as the marginal cost of a step:
      the time of a 45,000-step run minus that of a 4,500-step run, over 40,500 (each run
      measures the test distance only at its start and end),
    - the loop a user writes with `nagd.nn.Sequential`, `nagd.nn.losses.mean_distance` and
      ``NaGD.step`` (500 steps),
    - a bare NumPy loop (``x @ W + b``, ``np.tanh``, the hand-written gradient, ``NaGD.step``),
    - the same loop in PyTorch (``torch.nn.Linear``, autograd, an in-place NaSGD step), when
      PyTorch is installed;
(b) microseconds per step of the bare NumPy loop and of the nn API at minibatch 1, 60 and
    1,000 (float64), and of the step's three matrix products alone;
(c) the cost of one evaluation of the test distance (100 samples);
(d) the wall time of ``nagd reproduce layer --jobs 2`` (every series, 50 runs each, into a
    temporary folder) and the CPU time of the same runs in one process.
"""
import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from nagd.experiments.layer_matching import make_layer_matching, trainer
from nagd.experiments import layer_matching as lm
from nagd.nn import Dense, Sequential, mean_distance
from nagd.optim import NaGD

STEPS = 4500
PY_STEPS = 500


def _setup(dtype):
    data = make_layer_matching(0, dtype=dtype)
    order = lm.sample_order(0, 100, STEPS // 100)
    return data, order, lm.initial_params(0).astype(dtype)


def _compiled_run(data, order, p0, name, params):
    opt = lm._optimizer(name, params)
    p = p0.copy()
    t0, c0 = time.perf_counter(), time.process_time()
    lm.train_compiled(p, data.X_train, data.y_train, data.X_test, data.y_test, order, opt, eval_every=len(order))
    return time.perf_counter() - t0, time.process_time() - c0


def compiled(data, order, p0, name, params):
    """Marginal cost of a step: (time of 10 x 4,500 steps - time of 4,500 steps) / 40,500.

    The difference removes the fixed costs of a call (argument checks, the two
    evaluations of the test distance at the start and the end).
    """
    w1, c1 = _compiled_run(data, order, p0, name, params)
    w10, c10 = _compiled_run(data, np.tile(order, 10), p0, name, params)
    n = 9 * len(order)
    return (w10 - w1) / n, (c10 - c1) / n


def nn_path(data, order, p0, name, params):
    """The loop a user writes with the API: `Sequential`, `losses.mean_distance`, ``optimizer.step``."""
    opt = lm._optimizer(name, params)
    X, Y = data.X_train, data.y_train
    model = Sequential([Dense(Y.shape[1], "tanh")], (X.shape[1],), dtype=p0.dtype)
    model.params[:] = p0
    t0, c0 = time.perf_counter(), time.process_time()
    for i in order[:PY_STEPS]:
        loss = model.loss_and_grad(X[i:i + 1], Y[i:i + 1], mean_distance)
        opt.step(model.params, model.grads, loss)
    return (time.perf_counter() - t0) / PY_STEPS, (time.process_time() - c0) / PY_STEPS


def bare_numpy(data, order, p0):
    """NaSGD(0.7) with plain NumPy arrays: forward, distance loss, backward, one NaGD.step."""
    X, Y = data.X_train, data.y_train
    p = p0.copy()
    g = np.zeros_like(p)
    W, b = p[:40].reshape(10, 4), p[40:]
    gW, gb = g[:40].reshape(10, 4), g[40:]
    opt = NaGD(alpha=0.7)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in order[:PY_STEPS]:
        x = X[i]
        a = np.tanh(x @ W + b)
        diff = a - Y[i]
        loss = float(np.sqrt(diff @ diff))
        dz = diff / loss * (1.0 - a * a) if loss > 0 else np.zeros_like(a)
        np.outer(x, dz, out=gW)
        gb[:] = dz
        opt.step(p, g, loss)
    return (time.perf_counter() - t0) / PY_STEPS, (time.process_time() - c0) / PY_STEPS


def _batches(data, batch, steps, seed=0):
    """``steps`` minibatches of ``batch`` rows drawn without replacement from the training pairs
    (repeated to at least ``batch`` rows, so minibatch 1,000 is possible with 100 pairs)."""
    rng = np.random.default_rng(seed)
    reps = -(-batch // len(data.X_train))
    X, Y = np.tile(data.X_train, (reps, 1)), np.tile(data.y_train, (reps, 1))
    idx = [rng.choice(len(X), batch, replace=False) for _ in range(steps)]
    return [np.ascontiguousarray(X[i]) for i in idx], [np.ascontiguousarray(Y[i]) for i in idx]


def bare_numpy_batch(xs, ys, p0, products_only=False):
    """NaSGD(0.7) on minibatches with plain NumPy (mean distance loss); with products_only, only
    the three matrix products of a step (the BLAS share of it)."""
    p = p0.copy()
    g = np.zeros_like(p)
    W, b = p[:40].reshape(10, 4), p[40:]
    gW, gb = g[:40].reshape(10, 4), g[40:]
    opt = NaGD(alpha=0.7)
    t0, c0 = time.perf_counter(), time.process_time()
    for x, y in zip(xs, ys):
        if products_only:
            a = x @ W
            np.dot(x.T, a, out=gW)
            a @ W.T
            continue
        z = x @ W
        z += b
        a = np.tanh(z, out=z)
        diff = a - y
        dist = np.sqrt((diff * diff).sum(axis=1))
        n = len(x)
        dz = diff * (1.0 - a * a)
        dz /= (n * dist)[:, None]                  # no row at distance 0 here
        np.dot(x.T, dz, out=gW)
        dz.sum(axis=0, out=gb)
        dz @ W.T                                   # the input gradient, as a layer computes it
        opt.step(p, g, float(dist.sum()) / n)
    return (time.perf_counter() - t0) / len(xs), (time.process_time() - c0) / len(xs)


def nn_batch(xs, ys, p0):
    model = Sequential([Dense(4, "tanh")], (10,), dtype=p0.dtype)
    model.params[:] = p0
    opt = NaGD(alpha=0.7)
    t0, c0 = time.perf_counter(), time.process_time()
    for x, y in zip(xs, ys):
        loss = model.loss_and_grad(x, y, mean_distance)
        opt.step(model.params, model.grads, loss)
    return (time.perf_counter() - t0) / len(xs), (time.process_time() - c0) / len(xs)


def batch_table(repeats, batches=(1, 60, 1000)):
    """CPU microseconds per step (median) of the bare NumPy loop and the nn API at each minibatch
    size, float64, interleaved; and of the matrix products alone."""
    rows = []
    data, _, p0 = _setup(np.float64)
    for batch in batches:
        steps = max(20, 20000 // (batch + 40))
        xs, ys = _batches(data, batch, steps)
        bare_numpy_batch(xs, ys, p0)
        nn_batch(xs, ys, p0)
        t = {"numpy": [], "nn": [], "products": []}
        for _ in range(repeats):
            t["numpy"].append(bare_numpy_batch(xs, ys, p0)[1])
            t["nn"].append(nn_batch(xs, ys, p0)[1])
            t["products"].append(bare_numpy_batch(xs, ys, p0, products_only=True)[1])
        med = {k: statistics.median(v) * 1e6 for k, v in t.items()}
        rows.append((batch, med["numpy"], med["nn"], med["products"]))
    return rows


def torch_loop(data, order, p0, dtype):
    """NaSGD(0.7) in PyTorch: nn.Linear + tanh, autograd, an in-place step under no_grad."""
    import torch
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    layer = torch.nn.Linear(10, 4).to(tdtype)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(p0[:40].reshape(10, 4).T.copy()))
        layer.bias.copy_(torch.from_numpy(p0[40:].copy()))
    X, Y = torch.from_numpy(data.X_train), torch.from_numpy(data.y_train)
    params = list(layer.parameters())
    idx = order[:PY_STEPS].tolist()
    t0, c0 = time.perf_counter(), time.process_time()
    for i in idx:
        loss = torch.linalg.vector_norm(torch.tanh(layer(X[i])) - Y[i])
        for q in params:
            q.grad = None
        loss.backward()
        with torch.no_grad():
            gg = sum(float((q.grad * q.grad).sum()) for q in params)
            lr = min(1.0, 0.7 * float(loss) / gg) if gg > 0 else 0.0
            for q in params:
                q.sub_(lr * q.grad)
    return (time.perf_counter() - t0) / PY_STEPS, (time.process_time() - c0) / PY_STEPS


def eval_cost(data, p0, repeats):
    z = np.zeros(4)
    p = p0.astype(np.float64)
    X, Y = data.X_test.astype(np.float64), data.y_test.astype(np.float64)
    trainer._test_distance(p, X, Y, z)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(1000):
            trainer._test_distance(p, X, Y, z)
        times.append((time.perf_counter() - t0) / 1000)
    return statistics.median(times)


def step_table(repeats):
    try:
        import torch
        torch.set_num_threads(1)
        have_torch = True
    except ImportError:
        have_torch = False
    rows = []
    cases = [("NaSGD(0.7)", "nagd", {"alpha": 0.7}), ("SGD(0.01)", "sgd", {"lr": 0.01}),
             ("SGD(0.01, mu=0.9)", "sgd", {"lr": 0.01, "momentum": 0.9}), ("Adam(1e-3)", "adam", {"lr": 1e-3})]
    for dtype in (np.float64, np.float32):
        data, order, p0 = _setup(dtype)
        for _, name, params in cases:                   # compile and warm up
            compiled(data, order, p0, name, params)
        if have_torch:
            torch_loop(data, order, p0, dtype)
        times = {}
        for _ in range(repeats):
            for label, name, params in cases:
                times.setdefault(("compiled", label), []).append(compiled(data, order, p0, name, params))
            times.setdefault(("nn", "NaSGD(0.7)"), []).append(nn_path(data, order, p0, "nagd", {"alpha": 0.7}))
            times.setdefault(("numpy", "NaSGD(0.7)"), []).append(bare_numpy(data, order, p0))
            if have_torch:
                times.setdefault(("torch", "NaSGD(0.7)"), []).append(torch_loop(data, order, p0, dtype))
        wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
        cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
        cpu_min = {k: min(c for _, c in v) for k, v in times.items()}
        ref_w, ref_c = wall[("compiled", "NaSGD(0.7)")], cpu[("compiled", "NaSGD(0.7)")]
        for key in times:
            path, label = key
            rows.append((np.dtype(dtype).name, path, label, wall[key] * 1e9, wall[key] / ref_w,
                         cpu[key] * 1e9, cpu[key] / ref_c, cpu_min[key] * 1e9))
    return rows, have_torch


def section_time(jobs):
    """Wall and CPU seconds (all processes) of ``nagd reproduce layer --jobs N`` into a fresh folder."""
    with tempfile.TemporaryDirectory() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nagd.experiments.cli", "reproduce", "layer", "--out", out,
                        "--jobs", str(jobs)], check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    runs = sum(c["runs"] for c in lm.CONFIGS.values())
    return wall, cpu, runs


def section_cpu(seeds):
    """CPU seconds of run() over every config for `seeds` seeds each, in this process."""
    t0 = time.process_time()
    for config in lm.CONFIGS.values():
        for seed in range(seeds):
            lm.run(config, seed)
    return time.process_time() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--skip-section", action="store_true")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__}; load average {os.getloadavg()}")
    rows, have_torch = step_table(args.repeats)
    print("\n| dtype | path | optimizer | wall ns/step | x compiled NaSGD | CPU ns/step | x compiled NaSGD "
          "| CPU ns/step, fastest repeat |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    for dtype, path, label, ns, ratio, cns, cratio, cmin in rows:
        print(f"| {dtype} | {path} | {label} | {ns:,.0f} | {ratio:.1f} | {cns:,.0f} | {cratio:.1f} | {cmin:,.0f} |")
    if not have_torch:
        print("\n(PyTorch not installed: its row is left out)")
    print("\nOne step by minibatch size (float64, NaSGD(0.7), CPU us, medians):\n\n"
          "| minibatch | bare NumPy | nn API | nn / NumPy | the three matrix products alone |\n"
          "| --- | --- | --- | --- | --- |")
    for batch, t_np, t_nn, t_mm in batch_table(args.repeats):
        print(f"| {batch} | {t_np:.1f} | {t_nn:.1f} | {t_nn / t_np:.2f} | {t_mm:.1f} |")
    data, _, p0 = _setup(np.float64)
    print(f"\none test-distance evaluation (100 samples): {eval_cost(data, p0, args.repeats) * 1e6:.1f} us")
    if not args.skip_section:
        cpu = section_cpu(5)
        per_run = cpu / (5 * len(lm.CONFIGS))
        wall, sub_cpu, runs = section_time(args.jobs)
        print(f"\nfull section 3: {runs} runs ({len(lm.CONFIGS)} configs x 50 seeds, "
              f"{sum(len(c['series']) for c in lm.CONFIGS.values())} series): "
              f"`nagd reproduce layer --jobs {args.jobs}` wall {wall:.1f} s, CPU {sub_cpu:.1f} s "
              f"(all processes); run() alone in one process: CPU {per_run * 50 * len(lm.CONFIGS):.1f} s "
              f"(from 5 seeds per config)")
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
