"""Optimizers over many arrays, run by hand: ``python benchmarks/bench_optim_arrays.py [--repeats R] [--quick]``.

Prints Markdown tables (medians over repeats, each list timed in turn with the same step on one
flat array in the same run, in CPU time of this process so that other processes' share of the
cores is not counted) and writes nothing:

(a) time of one ``opt.step`` on n parameters given as one flat array, as one 2-D array, and as a
    list of k arrays (shapes of a small network, the rest in one large array), for the Polyak
    family (whose squared norm continues across arrays) and the Adam family;
(b) bytes allocated during one step (``tracemalloc``, after the step that creates the state):
    what a list of arrays costs beyond the flat step;
(c) the fixed cost per step of a list: tiny arrays, where it is all there is.
"""
import argparse
import os
import platform
import statistics
import time
import timeit
import tracemalloc

import numpy as np

from nagd import optim

OPTIMIZERS = [("NaGD", {}), ("PolyakSGD", {"momentum": 0.5}), ("MoMoAdam", {}), ("SGD", {"lr": 1e-3}),
              ("SGD", {"lr": 1e-3, "momentum": 0.9}), ("Adam", {})]


def layouts(n, k):
    """Shapes of k arrays, n elements in all: k - 1 small ones (a layer's weights and biases), the rest in one."""
    small = [(30, 20), (20,), (20, 10), (10,)] * k
    shapes = small[:k - 1]
    used = sum(int(np.prod(s)) for s in shapes)
    return shapes + [(n - used,)]


def problem(n, k, dtype, seed=0):
    rng = np.random.default_rng(seed)
    flat, grad = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    shapes = layouts(n, k)
    cuts = np.cumsum([int(np.prod(s)) for s in shapes])[:-1]
    params = [p.reshape(s).copy() for p, s in zip(np.split(flat, cuts), shapes)]
    grads = [g.reshape(s).copy() for g, s in zip(np.split(grad, cuts), shapes)]
    return flat, grad, params, grads


def step_timer(name, kwargs, params, grads):
    opt = optim.make(name, **kwargs)
    opt.step(params, grads, 1e3)              # compile, create the state
    return lambda: opt.step(params, grads, 1e3)


def peak_bytes(name, kwargs, params, grads):
    opt = optim.make(name, **kwargs)
    opt.step(params, grads, 1e3)
    opt.step(params, grads, 1e3)
    tracemalloc.start()
    try:
        opt.step(params, grads, 1e3)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def side_by_side(funcs, repeats, number):
    """Median time of each function, the functions timed in turn within each repeat (drift hits all alike)."""
    times = [[] for _ in funcs]
    for _ in range(repeats):
        for f, out in zip(funcs, times):
            out.append(timeit.timeit(f, number=number, timer=time.process_time) / number)
    return [statistics.median(t) for t in times]


def table_time(n, ks, dtype, repeats):
    print(f"\n(a) one step on n = {n:,} {np.dtype(dtype).name} parameters: ms (median of {repeats}, timed in "
          "turn); in brackets the ratio to the flat array\n")
    head = ["optimizer", "flat (n,)", f"2-D ({n // 1000}, 1000)"] + [f"list of {k}" for k in ks]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, kwargs in OPTIMIZERS:
        flat, grad, _, _ = problem(n, 2, dtype)
        funcs = [step_timer(name, kwargs, flat, grad),
                 step_timer(name, kwargs, flat.reshape(-1, 1000).copy(), grad.reshape(-1, 1000).copy())]
        for k in ks:
            _, _, params, grads = problem(n, k, dtype)
            funcs.append(step_timer(name, kwargs, params, grads))
        base, *others = side_by_side(funcs, repeats, 5)
        row = [f"`{name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})`", f"{base * 1e3:.3f}"]
        row += [f"{t * 1e3:.3f} ({t / base:.2f}x)" for t in others]
        print("| " + " | ".join(row) + " |")


def table_memory(n, k, dtype):
    print(f"\n(b) bytes allocated during one step (tracemalloc peak), n = {n:,} {np.dtype(dtype).name}"
          f" ({n * np.dtype(dtype).itemsize:,} bytes of parameters)\n")
    print(f"| optimizer | flat (n,) | list of {k} |")
    print("|---|---|---|")
    for name, kwargs in OPTIMIZERS:
        flat, grad, params, grads = problem(n, k, dtype)
        print(f"| `{name}({', '.join(f'{a}={b}' for a, b in kwargs.items())})` | "
              f"{peak_bytes(name, kwargs, flat, grad):,} | {peak_bytes(name, kwargs, params, grads):,} |")


def table_overhead(repeats):
    print(f"\n(c) fixed cost: one step on tiny arrays, microseconds (median of {repeats}, timed in turn)\n")
    print("| optimizer | flat (160,) | list of 4 (40 each) | list of 16 (10 each) | dict of 16 |")
    print("|---|---|---|---|---|")
    for name, kwargs in OPTIMIZERS:
        flat = np.linspace(-1.0, 1.0, 160)
        funcs = [step_timer(name, kwargs, flat, flat.copy())]
        for parts in (4, 16, "dict"):
            params = [p.copy() for p in np.split(flat, 16 if parts == "dict" else parts)]
            grads = [p.copy() for p in params]
            if parts == "dict":
                params = {f"w{i}": p for i, p in enumerate(params)}
                grads = {f"w{i}": p for i, p in enumerate(grads)}
            funcs.append(step_timer(name, kwargs, params, grads))
        times = side_by_side(funcs, repeats, 200)
        print(f"| `{name}({', '.join(f'{a}={b}' for a, b in kwargs.items())})` | "
              + " | ".join(f"{t * 1e6:.1f}" for t in times) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="n = 100,000 and 3 repeats")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    n = 100_000 if args.quick else 1_000_000
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, NumPy {np.__version__}")
    for dtype in (np.float32, np.float64):
        table_time(n, (8, 64), dtype, repeats)
    table_memory(n, 64, np.float32)
    table_overhead(repeats)


if __name__ == "__main__":
    main()
