"""Section 2: the paper's Tables 1-2 rows, the loops against references, the runs and the report."""
import math

import numpy as np
import pytest

import nagd
from nagd import problems
from nagd.experiments import published, simple

T1, T2 = published.TABLE1, published.TABLE2
Q, R = problems.get("quadratic"), problems.get("rosenbrock")
SGD, NAGD = simple.SGD_METHOD, simple.NAGD_METHOD


def compiled(problem, table, method, h, dtype, maxiter=1_000_000):
    x = np.array(table["x0"], dtype=dtype)
    hits, status, steps = simple.descend(problem.pid, x, method, float(h), problem.minimum,
                                         np.array(table["thresholds"]), maxiter, np.empty((0, 2), dtype))
    return list(hits), int(status), int(steps)


def paper_row(table, method, h):
    return next(r for r in table["rows"] if r["method"] == method and r["h"] == h)


@pytest.mark.parametrize("lr", [0.1156, 0.01, 0.1])
def test_table1_sgd_rows_exact_in_float64(lr):
    hits, status, _ = compiled(Q, T1, SGD, lr, np.float64)
    assert status == 0
    assert tuple(hits) == paper_row(T1, "sgd", lr)["steps"]


def test_table1_nasgd_best_row_matches_paper_in_both_dtypes():
    for dtype in (np.float64, np.float32):
        hits, status, _ = compiled(Q, T1, NAGD, 1.9, dtype)
        assert tuple(hits) == paper_row(T1, "nagd", 1.9)["steps"]


@pytest.mark.parametrize("lr", [0.0003945, 0.0001])
def test_table2_sgd_rows_within_a_tenth_of_a_percent_in_float32(lr):
    hits, status, _ = compiled(R, T2, SGD, lr, np.float32)
    paper = paper_row(T2, "sgd", lr)["steps"]
    assert status == 0
    for ours, theirs in zip(hits, paper):
        assert abs(ours - theirs) <= 1e-3 * theirs, (hits, paper)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_table2_sgd_0_001_diverges(dtype):
    hits, status, steps = compiled(R, T2, SGD, 0.001, dtype)
    assert status == 2 and hits == [-1] * 5 and steps < 100
    assert paper_row(T2, "sgd", 0.001)["steps"] == (None,) * 5


def numpy_reference(fun, grad, x0, method, h, thresholds, maxiter):
    """Plain NumPy float64: x <- x - lr*g, lr = h (SGD) or min(1, h*f/|g|^2) (NaSGD); 1-based hits, iterates."""
    x = np.array(x0, dtype=float)
    hits = [-1] * len(thresholds)
    xs = []
    for k in range(maxiter + 1):
        xs.append(x)
        f = fun(x)
        for j, t in enumerate(thresholds):
            if hits[j] < 0 and f <= t:
                hits[j] = k + 1
        if hits[-1] > 0:
            break
        g = grad(x)
        lr = h if method == SGD else min(1.0, h * f / np.sum(g * g))   # in order, as the kernel (not BLAS)
        x = x - lr * g
    return hits, np.array(xs)


@pytest.mark.parametrize("problem, table, method, h", [
    (Q, T1, NAGD, 1.9), (Q, T1, NAGD, 0.7), (Q, T1, SGD, 0.1), (R, T2, NAGD, 1.6), (R, T2, NAGD, 0.7),
    (R, T2, SGD, 0.0003945)])
def test_compiled_and_python_loops_match_a_numpy_reference(problem, table, method, h):
    def fun(x):
        return float(8 * x[0] ** 2 + 0.5 * x[1] ** 2) if problem is Q else \
            float((1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2)

    def grad(x):
        if problem is Q:
            return np.array([16 * x[0], x[1]])
        return np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])

    ref, ref_xs = numpy_reference(fun, grad, table["x0"], method, h, table["thresholds"], 20_000)
    hits, status, steps = compiled(problem, table, method, h, np.float64)
    # the first iterates agree to rounding; then the Rosenbrock valley amplifies rounding
    # differences (another order of operations), so step counts are compared on q only
    trace = np.zeros((20, 2))
    simple.descend(problem.pid, np.array(table["x0"], dtype=float), method, float(h), 0.0, np.empty(0),
                   19, trace)
    n = min(20, len(ref_xs))
    np.testing.assert_allclose(trace[:n], ref_xs[:n], rtol=1e-9, atol=1e-12)
    if problem is Q or method == SGD:
        assert hits == ref, (hits, ref)
    py_hits, py_status, py_steps = simple.python_descend(problem, table["x0"], method, h, table["thresholds"],
                                                         1_000_000)
    assert (py_hits, py_status, py_steps) == (hits, status, steps)


@pytest.mark.parametrize("alpha", [1.9, 0.7])
def test_compiled_loop_agrees_with_nagd_minimize(alpha):
    hits, _, steps = compiled(Q, T1, NAGD, alpha, np.float64)
    res = nagd.minimize(Q.fun, np.array(T1["x0"]), jac=Q.grad, alpha=alpha, max_lr=1.0, tol=1e-10, gtol=0.0)
    assert res.status == 0 and res.nit + 1 == steps == hits[-1]


def test_fields_iterates_follow_closed_form():
    cfg = simple.QUICK["fields"]
    res = simple.run(cfg, 0)
    alpha, lr = cfg["pairs"][0]
    pair = res["trajectories"][0]
    xs, ys = np.array(pair["sgd"][0]), np.array(pair["sgd"][1])
    assert len(xs) == cfg["iterates"] == 6000
    k = np.arange(len(xs))
    np.testing.assert_allclose(xs, (1 - 16 * lr) ** k, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(ys, (1 - lr) ** k, rtol=1e-9)
    nx, ny = np.array(pair["nagd"][0]), np.array(pair["nagd"][1])
    assert (nx[0], ny[0]) == (1.0, 1.0)
    q = 8 * nx ** 2 + 0.5 * ny ** 2
    # each NaSGD step removes about alpha of q (first-order), so q shrinks monotonically here
    assert np.all(np.diff(q) < 0)
    np.testing.assert_allclose(q[1:] / q[:-1], 1 - alpha, atol=0.02)


def test_speed_ratio_on_the_axes():
    a, lr = 1.9, 0.1156
    on_x = simple._speed_ratio(np.array([0.5]), np.array([0.0]), a, lr)[0]
    on_y = simple._speed_ratio(np.array([0.0]), np.array([0.5]), a, lr)[0]
    assert on_x == pytest.approx(8 / 256 * a / lr)      # q/|grad q|^2 = 8x^2 / 256x^2
    assert on_y == pytest.approx(0.5 * a / lr)          # = (y^2/2) / y^2
    assert math.isnan(simple._speed_ratio(np.array([0.0]), np.array([0.0]), a, lr)[0])


def test_search_finds_the_grid_minimum():
    cfg = simple.QUICK["table1_search"]
    res = simple.run(cfg, 0)
    lo, hi, n = cfg["lr_grid"]
    grid_steps = []
    for lr in np.geomspace(lo, hi, n):
        hits, status, steps = compiled(Q, T1, SGD, lr, np.float64)
        if status == 0:
            grid_steps.append(steps)
    best_sgd, best_nagd = res["rows"]
    assert best_sgd["h"] == res["lr"] and best_sgd["float64"]["steps"] <= min(grid_steps)
    lo, hi, n = cfg["alpha_grid"]
    alpha_steps = [compiled(Q, T1, NAGD, a, np.float64)[2] for a in np.linspace(lo, hi, n)]
    assert best_nagd["float64"]["steps"] == min(alpha_steps)


def test_random_row_is_seeded_and_in_range():
    cfg = dict(simple.QUICK["table1_random"], trials=4)
    a = simple.run(cfg, 7)
    b = simple.run(cfg, 7)
    c = simple.run(cfg, 8)
    alphas = [t["alpha"] for t in a["trials"]]
    assert alphas == [t["alpha"] for t in b["trials"]] != [t["alpha"] for t in c["trials"]]
    assert all(0.2 <= x <= 2.0 for x in alphas)
    assert [("python" in t) for t in a["trials"]] == [True] * cfg["python_trials"] + [False] * (4 - cfg["python_trials"])
    for t in a["trials"]:
        assert t["float64"]["status"] == 0
        if "python" in t:
            assert t["python"]["hits"] == t["float64"]["hits"]


def test_configs_follow_the_contract():
    assert set(simple.CONFIGS) == set(simple.QUICK)
    for target, names in simple.TARGETS.items():
        assert all(n in simple.CONFIGS for n in names)
    assert simple.CONFIGS["table1_random"]["runs"] * simple.CONFIGS["table1_random"]["trials"] == 2000
    rows = simple.CONFIGS["table2_rows"]["rows"]
    assert rows == [[r["method"], r["h"]] for r in T2["rows"] if "trials" not in r]
    with pytest.raises(ValueError, match="config\\['kind'\\] must be"):
        simple.run({"kind": "nope", "problem": "quadratic"}, 0)


def test_report_of_quick_runs(tmp_path):
    runs = {name: [simple.run(simple.QUICK[name], 0)] for name in ("table1_rows", "table2_rows", "fields")}
    text = simple.report(runs, str(tmp_path))
    assert "### Table 1" in text and "### Table 2" in text
    assert "23 (paper 23, =)" in text and "142986 (paper 142986, =)" in text
    assert "NaSGD(α = 0.7) differs from the paper" in text
    for name in ("table1.csv", "table2.md", "fig1.png", "fig2.png", "fig3.png"):
        assert (tmp_path / name).stat().st_size > 0
    header = (tmp_path / "table1.csv").read_text().splitlines()[0]
    assert header.startswith("row,kind,dtype,steps_0.01")
