"""Unknown minimum (lower_bound="auto") and per-sample lower bounds (SPS's f_i*)."""
import numpy as np
import pytest

from nagd import problems
from nagd.optim import ALIG, LevelBound, MoMo, PolyakSGD


def run(opt, f, g, x0, steps):
    x = np.array(x0, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            fx, gx = f(x), g(x)
            if not (np.isfinite(fx) and np.all(np.isfinite(gx))):
                return x, np.inf                       # diverged
            opt.step(x, gx, fx)
    return x, f(x)


SECTION2 = [
    ("quadratic", problems.quadratic, problems.quadratic_grad, [1.0, 1.0], 300, 1e-12),
    ("rosenbrock", problems.rosenbrock, problems.rosenbrock_grad, [-3.0, -4.0], 3000, 1e-3),
]


@pytest.mark.parametrize("name, q, dq, x0, steps, tol", SECTION2, ids=[p[0] for p in SECTION2])
@pytest.mark.parametrize("shift", [-5.0, 3.0, 1000.0])
def test_auto_bound_converges_where_a_fixed_zero_bound_fails(name, q, dq, x0, steps, tol, shift):
    f = lambda x: q(x) + shift                                  # minimum value `shift`, unknown to the optimizer
    _, f_auto = run(PolyakSGD(alpha=0.7, lower_bound="auto"), f, dq, x0, steps)
    _, f_zero = run(PolyakSGD(alpha=0.7, lower_bound=0.0), f, dq, x0, steps)
    assert f_auto - shift < tol
    assert f_zero - shift > 0.1                                 # stalls on f = 0 (shift < 0) or overshoots (> 0)


def test_auto_bound_on_least_squares_without_exact_solution(rng):
    A = rng.standard_normal((40, 5)) * np.array([3.0, 1.0, 1.0, 0.5, 0.2])
    b = rng.standard_normal(40)
    x_star = np.linalg.lstsq(A, b, rcond=None)[0]
    f = lambda x: 0.5 * float(np.sum((A @ x - b) ** 2)) / 40
    g = lambda x: A.T @ (A @ x - b) / 40
    assert f(x_star) > 0.1                                       # no exact solution: min f > 0
    x_auto, f_auto = run(PolyakSGD(alpha=0.7, lower_bound="auto"), f, g, np.ones(5), 1000)
    x_zero, f_zero = run(PolyakSGD(alpha=0.7, lower_bound=0.0, max_lr=None), f, g, np.ones(5), 1000)
    assert f_auto - f(x_star) < 1e-12
    np.testing.assert_allclose(x_auto, x_star, atol=1e-5)
    assert f_zero - f(x_star) > 1e-3                             # steps aimed at 0 keep overshooting


def test_momo_auto_bound_rises_to_an_unknown_positive_minimum():
    f = lambda x: problems.quadratic(x) + 3.0
    opt = MoMo(max_lr=1.0, beta=0.9, lower_bound="auto")
    _, f_auto = run(opt, f, problems.quadratic_grad, [1.0, 1.0], 300)
    assert f_auto - 3.0 < 1e-9
    assert 2.0 < opt.lower_bound_estimate <= 3.0 + 1e-9                          # the estimate climbed from its min_lower_bound 0


def test_level_bound_rule():
    lev = LevelBound(delta0=0.5, low=0.25, high=0.75, grow=2.0, shrink=0.5)
    assert lev(10.0, None) == 5.0                                # 10 - 0.5*|10|
    assert lev(8.0, 4.0) == 8.0 - 5.0                            # achieved 2 of 4 predicted: keep delta
    assert lev(7.9, 1.0) == 7.9 - 2.5                            # 0.1 of 1: overshoot, delta halves
    assert lev(6.9, 1.0) == 6.9 - 5.0                            # all of it: the level goes down
    assert lev(50.0, 1.0) == 6.9 - 2.5                           # f went up: best stays, delta halves
    assert lev(50.0, 0.0) == 6.9 - 2.5                           # no step predicted: nothing learnt
    lev.reset()
    assert LevelBound(delta0=0.5)(0.0, None) == -0.5             # f(x_0) = 0: absolute offset


@pytest.mark.parametrize("kw, match", [
    ({"low": 0.8, "high": 0.5}, "low must be below high"),
    ({"grow": 1.0}, "grow must be > 1"),
    ({"shrink": 1.0}, r"shrink must be in \(0, 1\)"),
    ({"delta0": 0.0}, "delta0 must be a positive"),
])
def test_level_bound_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        LevelBound(**kw)


def test_auto_is_invariant_to_shift_and_scale_after_the_first_step():
    """Only differences of losses drive the level: a shift or a scale of f leaves the iterates unchanged."""
    f, g = problems.quadratic, problems.quadratic_grad
    xs = []
    for a, c, steps in [(1.0, 0.0, 12), (1.0, -7.0, 12), (4.0, 0.0, 12)]:
        lev = LevelBound(delta0=0.1)
        opt = PolyakSGD(alpha=0.7, lower_bound=lev, max_lr=None)
        x = np.array([1.0, 1.0])
        lev(a * f(x) + c, None)
        lev.delta = 0.1 * a * f(x)                               # the same first offset, relative to min f
        lev.level = lev.best - lev.delta
        for _ in range(steps):
            opt.step(x, a * g(x), a * f(x) + c)
        xs.append(x)
    np.testing.assert_allclose(xs[1], xs[0], rtol=1e-9)
    np.testing.assert_array_equal(xs[2], xs[0])                  # scaling by 4 is exact in binary


# -- per-sample lower bounds -------------------------------------------------

def kaczmarz_problem(rng, n=20, d=4):
    """f_i(x) = (a_i.x - b_i)^2/2 + m_i: every f_i has its own known minimum m_i, all at one x*."""
    A = rng.standard_normal((n, d))
    x_star = rng.standard_normal(d)
    m = rng.uniform(0.5, 2.0, n)
    b = A @ x_star
    return A, b, m, x_star


def batch_fg(A, b, m, idx, x):
    r = A[idx] @ x - b[idx]
    return float(np.mean(0.5 * r * r + m[idx])), A[idx].T @ r / len(idx)


def test_per_sample_bound_is_the_batch_mean(rng):
    A, b, m, _ = kaczmarz_problem(rng)
    idx = np.array([3, 7])
    x = rng.standard_normal(4)
    f, g = batch_fg(A, b, m, idx, x)
    expected = 0.5 * (f - m[idx].mean()) / (g @ g)               # alpha (f_B - mean f_i*) / |g_B|^2
    lr = PolyakSGD(alpha=0.5, max_lr=None).step(x, g, f, lower_bound=m[idx])
    assert lr == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("cls", [PolyakSGD, ALIG])
def test_per_sample_bounds_converge_where_a_global_bound_does_not(rng, cls):
    A, b, m, x_star = kaczmarz_problem(rng)
    kw = {"max_lr": None} if cls is PolyakSGD else {"eps": 0.0}
    x_own, x_zero = np.zeros(4), np.zeros(4)
    own, zero = cls(**kw), cls(**kw)
    order = np.random.default_rng(1)
    for _ in range(60):
        for i in order.permutation(20):
            idx = np.array([i])
            own.step(x_own, batch_fg(A, b, m, idx, x_own)[1], batch_fg(A, b, m, idx, x_own)[0],
                     lower_bound=m[idx])
            f, g = batch_fg(A, b, m, idx, x_zero)
            zero.step(x_zero, g, f)                              # bound 0: f_i* = m_i ignored
    assert np.linalg.norm(x_own - x_star) < 1e-8                 # one sample at a time: Kaczmarz's projections
    assert np.linalg.norm(x_zero - x_star) > 1e-2


def test_single_sample_step_is_the_kaczmarz_projection(rng):
    A, b, m, _ = kaczmarz_problem(rng)
    x = rng.standard_normal(4)
    f, g = batch_fg(A, b, m, np.array([5]), x)
    PolyakSGD(alpha=2.0, max_lr=None).step(x, g, f, lower_bound=[m[5]])   # r^2/2 has a double root
    assert A[5] @ x == pytest.approx(b[5], abs=1e-12)            # lands on the hyperplane a_5.x = b_5


def test_auto_bound_never_sticks_to_the_loss():
    # once the level equals the loss the step is zero; the level must then go down, not stay
    _, f_auto = run(PolyakSGD(alpha=0.7, lower_bound="auto"), problems.rosenbrock, problems.rosenbrock_grad,
                    [-3.0, -4.0], 3000)
    assert f_auto < 1e-3
    lev = LevelBound(delta0=0.5, grow=2.0)
    assert lev(10.0, None) == 5.0
    lev.level = 10.0                                             # as if delta had shrunk to nothing
    assert lev(10.0, 0.0) == 10.0 - 2.0 * 5.0                    # a zero step at f <= level grows delta
