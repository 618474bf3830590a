"""Polyak-family benchmarks, run by hand: ``python benchmarks/bench_polyak.py [--repeats R] [--quick]``.

Prints a Markdown table of the median time of one ``step`` of every Polyak-family
optimizer on n float32/float64 parameters, each beside plain SGD and NaGD
measured in the same run (interleaved repeats, so machine noise hits all alike),
and the cost of ``record=True`` (the per-step record) against ``record=False``.
Times are CPU time of the process (``time.process_time``), so that time spent
waiting for a core on a shared machine is not counted; everything is single-threaded.
"""
import argparse
import platform
import statistics
import time

import numpy as np

import nagd
from nagd.optim import ALIG, SGD, Adam, MoMo, MoMoAdam, NaGD, PolyakSGD

OPTIMIZERS = {
    "SGD(lr=0.01)": lambda: SGD(lr=0.01),
    "SGD(momentum=0.9)": lambda: SGD(lr=0.01, momentum=0.9),
    "Adam": lambda: Adam(),
    "NaGD": lambda: NaGD(alpha=0.7),
    "PolyakSGD": lambda: PolyakSGD(alpha=0.7),
    "PolyakSGD(record=True)": lambda: PolyakSGD(alpha=0.7, record=True),
    "PolyakSGD(momentum=0.9)": lambda: PolyakSGD(alpha=0.7, momentum=0.9),
    "PolyakSGD(auto)": lambda: PolyakSGD(alpha=0.7, lower_bound="auto"),
    "ALIG(momentum=0.9)": lambda: ALIG(momentum=0.9),
    "ALIG(momentum=0.9, adjusted)": lambda: ALIG(momentum=0.9, adjusted_momentum=True),
    "MoMo": lambda: MoMo(),
    "MoMoAdam": lambda: MoMoAdam(),
}


def step_times(n, dtype, repeats, steps):
    """Median seconds per step of each optimizer, repeats interleaved across optimizers."""
    rng = np.random.default_rng(0)
    g = rng.standard_normal(n).astype(dtype)
    opts = {k: make() for k, make in OPTIMIZERS.items()}
    params = {k: rng.standard_normal(n).astype(dtype) for k in OPTIMIZERS}
    for k, opt in opts.items():                       # compile and create the state
        opt.step(params[k], g, 1.0)
    times = {k: [] for k in OPTIMIZERS}
    for _ in range(repeats):
        for k, opt in opts.items():
            p = params[k]
            start = time.process_time()
            for _ in range(steps):
                opt.step(p, g, 1.0)
            times[k].append((time.process_time() - start) / steps)
            if getattr(opt, "history", None) is not None:
                opt.reset()                           # keep the record from growing across repeats
                opt.step(p, g, 1.0)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--quick", action="store_true", help="small sizes and few repeats (a smoke test)")
    args = ap.parse_args(argv)
    sizes = (1_000, 100_000) if args.quick else (1_000, 100_000, 1_000_000)
    repeats = 3 if args.quick else args.repeats
    print(f"nagd {nagd.__version__}, numpy {np.__version__}, Python {platform.python_version()}, "
          f"{platform.machine()} {platform.processor() or ''}, {time.strftime('%Y-%m-%d')}; "
          f"median of {repeats} repeats\n")
    for dtype in (np.float32, np.float64):
        cols = {n: step_times(n, dtype, repeats, max(20, 20_000_000 // n)) for n in sizes}
        print(f"\n{np.dtype(dtype).name}: microseconds per step (ratio to NaGD)\n")
        print("| optimizer | " + " | ".join(f"n = {n:,}" for n in sizes) + " |")
        print("|---|" + "---:|" * len(sizes))
        for k in OPTIMIZERS:
            cells = [f"{cols[n][k] * 1e6:.2f} ({cols[n][k] / cols[n]['NaGD']:.2f})" for n in sizes]
            print(f"| {k} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
