"""The Polyak family (PolyakSGD, ALIG, MoMo, MoMoAdam): edge cases and plain-NumPy references."""
import math
import os

import numpy as np
import pytest

from nagd import kernels
from nagd.optim import ALIG, MoMo, MoMoAdam, NaGD, PolyakSGD, LowerBoundError

JIT = os.environ.get("NUMBA_DISABLE_JIT", "0") != "1"


def least_squares(rng, n=12, d=5, exact=True):
    """f(x) = mean((A x - b)^2)/2 with its gradient; b = A x_true when exact (so min f = 0)."""
    A = rng.standard_normal((n, d))
    b = A @ rng.standard_normal(d) if exact else rng.standard_normal(n)

    def fg(x):
        r = A @ x - b
        return 0.5 * float(r @ r) / n, A.T @ r / n

    return fg


# -- plain-NumPy references, transcribed from the update equations ---------

def ref_heavy_ball(alpha, L, max_lr, mu, eps):
    v = None

    def step(x, g, f):
        nonlocal v
        v = np.zeros_like(x) if v is None else v
        lr = min(max_lr, alpha * max(f - L, 0.0) / (g @ g + eps))
        v = mu * v - lr * g
        return x + v

    return step


def ref_alig(max_lr, mu, eps, adjusted=False):
    """oval-group/ali-g AliG: apply_momentum_standard, or apply_momentum_adjusted when adjusted."""
    b = None

    def step(x, g, f):
        nonlocal b
        b = np.zeros_like(x) if b is None else b
        lr = min(max_lr, f / (g @ g + eps))
        x = x - lr * g
        if adjusted:
            b = mu * b - g
            return x + lr * mu * b
        b = mu * b - lr * g
        return x + mu * b

    return step


def ref_momo(lr, beta, lb, wd, bias_correction, auto):
    s = {"k": 0, "lb": lb}

    def step(x, g, f):
        s["k"] += 1
        k = s["k"]
        if k == 1:
            if bias_correction:
                s["fbar"], s["d"], s["gamma"] = 0.0, np.zeros_like(x), 0.0
            else:
                s["fbar"], s["d"], s["gamma"] = f, g.copy(), x @ g
        s["fbar"] = beta * s["fbar"] + (1 - beta) * f
        s["d"] = beta * s["d"] + (1 - beta) * g
        s["gamma"] = beta * s["gamma"] + (1 - beta) * (x @ g)
        rho = 1 - beta ** k if bias_correction else 1.0
        c = 1 + lr * wd
        d, fbar, gamma = s["d"], s["fbar"], s["gamma"]
        if auto:
            cap = c * fbar + x @ d - c * gamma
            if cap < c * rho * s["lb"]:
                s["lb"] = max(cap / (2 * c * rho), lb)
        nom = c * (fbar - rho * s["lb"]) + x @ d - c * gamma
        tau = min(lr / rho, max(nom, 0.0) / (d @ d))
        if auto:
            s["lb"] = max((fbar + x @ d - gamma - 0.5 * tau * (d @ d)) / rho, lb)
        return (x - tau * d) / c

    return step


def ref_momo_adam(lr, b1, b2, eps, lb, wd, divide, auto):
    s = {"k": 0, "lb": lb, "fbar": 0.0, "gamma": 0.0, "m": None, "v": None}

    def step(x, g, f):
        s["k"] += 1
        k = s["k"]
        if s["m"] is None:
            s["m"], s["v"] = np.zeros_like(x), np.zeros_like(x)
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        s["gamma"] = b1 * s["gamma"] + (1 - b1) * (x @ g)
        s["fbar"] = (1 - b1) * f + b1 * s["fbar"]
        D = np.sqrt(s["v"] / (1 - b2 ** k)) + eps
        m, rho, c = s["m"], 1 - b1 ** k, 1 + lr * wd
        norm = m @ (m / D)
        if auto:
            cap = c * s["fbar"] + x @ m - c * s["gamma"]
            if cap < c * rho * s["lb"]:
                s["lb"] = max(cap / (2 * c * rho), lb)
        nom = c * (s["fbar"] - rho * s["lb"]) + x @ m - c * s["gamma"]
        tau = min(lr / rho, max(nom, 0.0) / norm)
        if auto:
            s["lb"] = max((s["fbar"] + x @ m - s["gamma"] - 0.5 * tau * norm) / rho, lb)
        if wd > 0 and not divide:
            x = x * (1 - wd * lr)
        x = x - tau * m / D
        if wd > 0 and divide:
            x = x / (1 + wd * lr)
        return x

    return step


CASES = [
    ("heavy ball", lambda: PolyakSGD(alpha=0.8, max_lr=2.0, momentum=0.6, eps=1e-3),
     lambda: ref_heavy_ball(0.8, 0.0, 2.0, 0.6, 1e-3)),
    ("heavy ball uncapped", lambda: PolyakSGD(alpha=1.5, max_lr=None, momentum=0.3),
     lambda: ref_heavy_ball(1.5, 0.0, math.inf, 0.3, 0.0)),
    ("alig", lambda: ALIG(max_lr=0.5, momentum=0.9, eps=1e-5), lambda: ref_alig(0.5, 0.9, 1e-5)),
    ("alig uncapped", lambda: ALIG(momentum=0.5), lambda: ref_alig(math.inf, 0.5, 1e-5)),
    ("alig adjusted", lambda: ALIG(max_lr=0.5, momentum=0.9, adjusted_momentum=True),
     lambda: ref_alig(0.5, 0.9, 1e-5, adjusted=True)),
    ("momo", lambda: MoMo(max_lr=1.0, beta=0.9), lambda: ref_momo(1.0, 0.9, 0.0, 0.0, False, False)),
    ("momo bias wd", lambda: MoMo(max_lr=0.5, beta=0.8, weight_decay=0.1, bias_correction=True),
     lambda: ref_momo(0.5, 0.8, 0.0, 0.1, True, False)),
    ("momo auto", lambda: MoMo(max_lr=2.0, beta=0.9, lower_bound="auto", weight_decay=0.01),
     lambda: ref_momo(2.0, 0.9, 0.0, 0.01, False, True)),
    ("momo-adam", lambda: MoMoAdam(max_lr=0.1), lambda: ref_momo_adam(0.1, 0.9, 0.999, 1e-8, 0.0, 0.0, True, False)),
    ("momo-adam adamw", lambda: MoMoAdam(max_lr=0.1, betas=(0.8, 0.99), weight_decay=0.05, divide=False),
     lambda: ref_momo_adam(0.1, 0.8, 0.99, 1e-8, 0.0, 0.05, False, False)),
    ("momo-adam prox auto", lambda: MoMoAdam(max_lr=0.5, weight_decay=0.05, lower_bound="auto"),
     lambda: ref_momo_adam(0.5, 0.9, 0.999, 1e-8, 0.0, 0.05, True, True)),
]


@pytest.mark.parametrize("name, make, make_ref", CASES, ids=[c[0] for c in CASES])
def test_matches_numpy_reference(rng, name, make, make_ref):
    fg = least_squares(rng, exact=(name != "momo auto"))
    x = rng.standard_normal(5)
    y = x.copy()
    opt, ref = make(), make_ref()
    f0 = fg(x)[0]
    for _ in range(25):
        f, g = fg(x)
        opt.step(x, g, f)
        fy, gy = fg(y)
        y = ref(y, gy, fy)
        np.testing.assert_allclose(x, y, rtol=1e-11, atol=1e-14)
    assert fg(x)[0] < f0


# -- the edge-case policy ---------------------------------------------------

POLYAK = [
    (PolyakSGD, {}), (PolyakSGD, {"momentum": 0.5}), (PolyakSGD, {"eps": 1e-3, "max_lr": None}),
    (ALIG, {}), (ALIG, {"momentum": 0.9, "max_lr": 0.1}), (ALIG, {"momentum": 0.9, "adjusted_momentum": True}),
    (MoMo, {"beta": 0.0}), (MoMo, {"beta": 0.9}), (MoMoAdam, {"max_lr": 0.1}),
]
IDS = [f"{c.__name__}-{kw}" for c, kw in POLYAK]


@pytest.mark.parametrize("cls, kw", POLYAK, ids=IDS)
def test_zero_gradient_takes_no_step(cls, kw):
    x, opt = np.array([1.0, -2.0]), cls(**kw)
    assert opt.step(x, np.zeros(2), 3.0) == 0.0
    np.testing.assert_array_equal(x, [1.0, -2.0])
    assert opt.last_alpha == 0.0


@pytest.mark.parametrize("cls, kw", POLYAK, ids=IDS)
def test_loss_at_the_bound_takes_no_step(cls, kw):
    x, opt = np.array([1.0, -2.0]), cls(lower_bound=0.5, **kw)
    assert opt.step(x, np.array([1.0, 1.0]), 0.5) == 0.0
    np.testing.assert_array_equal(x, [1.0, -2.0])


@pytest.mark.parametrize("below", ["clip", "skip", "raise"])
def test_below_policy_with_momentum(below):
    x, g = np.array([1.0, 1.0]), np.array([1.0, 0.0])
    opt = PolyakSGD(momentum=0.5, lower_bound=0.0, below=below, max_lr=None)
    opt.step(x, g, 1.0)                                     # lr = 1: v = (-1, 0), x = (0, 1)
    np.testing.assert_array_equal(x, [0.0, 1.0])
    if below == "raise":
        with pytest.raises(LowerBoundError, match=r"loss -1.0 is below lower_bound 0.0"):
            opt.step(x, g, -1.0)
        np.testing.assert_array_equal(x, [0.0, 1.0])
        return
    lr = opt.step(x, g, -1.0)
    assert lr == 0.0
    if below == "clip":                                     # positive part: momentum still moves x
        np.testing.assert_array_equal(x, [-0.5, 1.0])
        np.testing.assert_array_equal(opt.velocity, [-0.5, 0.0])
    else:                                                   # skip: nothing changes
        np.testing.assert_array_equal(x, [0.0, 1.0])
        np.testing.assert_array_equal(opt.velocity, [-1.0, 0.0])


def test_raise_policy_accepts_loss_equal_to_bound():
    x = np.array([1.0])
    assert PolyakSGD(below="raise", lower_bound=2.0).step(x, np.array([1.0]), 2.0) == 0.0


def test_max_lr_none_is_uncapped_and_eps_enters_the_denominator():
    x, g = np.array([0.0, 0.0]), np.array([1e-3, 0.0])
    lr = PolyakSGD(alpha=1.0, max_lr=None).step(x, g, 1.0)
    assert lr == pytest.approx(1e6, rel=1e-12)
    assert PolyakSGD(alpha=0.5, max_lr=None, eps=1e-6).step(x, g, 1.0) == pytest.approx(0.5 / 2e-6, rel=1e-12)
    assert PolyakSGD(alpha=1.0, max_lr=3.0).step(x, g, 1.0) == 3.0


def test_step_size_that_overflows_is_no_step():
    x, g = np.array([1.0]), np.array([1e-160])             # |g|^2 = 1e-320, 1/|g|^2 overflows
    assert PolyakSGD(max_lr=None).step(x, g, 10.0) == 0.0
    assert x[0] == 1.0


@pytest.mark.parametrize("cls, kw", POLYAK, ids=IDS)
def test_non_finite_input_is_an_error(cls, kw):
    x, opt = np.array([1.0, 2.0]), cls(**kw)
    with pytest.raises(ValueError, match="loss must be a finite number"):
        opt.step(x, np.ones(2), math.nan)
    with pytest.raises(ValueError, match="grad must be finite"):
        opt.step(x, np.array([1.0, math.inf]), 1.0)
    np.testing.assert_array_equal(x, [1.0, 2.0])
    assert opt.t == 0


def test_polyak_sgd_without_momentum_is_nagd(rng):
    fg = least_squares(rng)
    x, y = rng.standard_normal(5), None
    y = x.copy()
    a, b = PolyakSGD(alpha=0.7), NaGD(alpha=0.7)
    for _ in range(20):
        f, g = fg(x)
        assert a.step(x, g, f) == b.step(y, g.copy(), f)
        assert a.last_alpha == b.last_alpha
    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("cls, kw", POLYAK, ids=IDS)
def test_float32_matches_float64(rng, cls, kw):
    fg = least_squares(rng)
    x64 = rng.standard_normal(5)
    x32 = x64.astype(np.float32)
    a, b = cls(**kw), cls(**kw)
    for _ in range(15):
        f, g = fg(x64)
        a.step(x64, g, f)
        f32, g32 = fg(x32.astype(np.float64))
        b.step(x32, g32.astype(np.float32), f32)
        assert x32.dtype == np.float32
    np.testing.assert_allclose(x32, x64, rtol=2e-3, atol=2e-4)


def test_squared_norm_of_float32_accumulates_in_float64():
    g = np.full(10_001, 0.1, dtype=np.float32)
    exact = 10_001 * float(np.float32(0.1)) ** 2
    assert kernels.sq_norm(g) == pytest.approx(exact, rel=1e-13)


@pytest.mark.skipif(not JIT, reason="signatures only exist when Numba compiles")
def test_one_compile_per_dtype(rng):
    for cls, kw in POLYAK:
        for dtype in (np.float32, np.float64):
            for scale in (1, 1.0):                          # ints and floats must not compile twice
                x = np.ones(4, dtype=dtype)
                cls(**{k: (v * scale if isinstance(v, float) else v) for k, v in kw.items()}).step(
                    x, np.full(4, 0.5, dtype=dtype), 2)
    for k in (kernels.polyak_momentum_step, kernels.alig_step, kernels.alig_adjusted_step, kernels.dot,
              kernels.momo_moments,
              kernels.momo_update, kernels.momo_adam_moments, kernels.momo_adam_update):
        assert len(k.signatures) == 2, k


@pytest.mark.parametrize("make, match", [
    (lambda: PolyakSGD(alpha=2.5), "alpha must be in"),
    (lambda: PolyakSGD(momentum=1.0), "momentum must be in"),
    (lambda: PolyakSGD(eps=-1.0), "eps must be a non-negative"),
    (lambda: PolyakSGD(below="ignore"), "below must be one of"),
    (lambda: PolyakSGD(lower_bound="guess"), "lower_bound must be a finite number or 'auto'"),
    (lambda: ALIG(max_lr=0.0), "max_lr must be a positive number or None"),
    (lambda: MoMo(max_lr=-1.0), "max_lr must be a positive"),
    (lambda: MoMo(beta=1.5), "beta must be in"),
    (lambda: MoMo(weight_decay=-0.1), "weight_decay must be a non-negative"),
    (lambda: MoMoAdam(betas=(0.9,)), "betas must be a pair"),
    (lambda: MoMoAdam(betas=(0.9, 1.0)), r"betas\[1\] must be in"),
])
def test_bad_options(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_adjusted_momentum_must_be_a_bool():
    with pytest.raises(TypeError, match="adjusted_momentum must be True or False, got 'yes'"):
        ALIG(adjusted_momentum="yes")


def test_per_step_bound_must_be_finite():
    with pytest.raises(ValueError, match="lower_bound must hold finite per-sample minima"):
        PolyakSGD().step(np.ones(2), np.ones(2), 1.0, lower_bound=[0.0, math.nan])


@pytest.mark.parametrize("cls, kw", POLYAK, ids=IDS)
def test_reset_forgets_state(rng, cls, kw):
    fg = least_squares(rng)
    x0 = rng.standard_normal(5)
    opt = cls(**kw)
    runs = []
    for _ in range(2):
        x = x0.copy()
        for _ in range(5):
            f, g = fg(x)
            opt.step(x, g, f)
        runs.append(x)
        opt.reset()
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 13])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dot_widens_and_sums_in_float64(rng, n, dtype):
    a, b = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    exact = float(np.dot(a.astype(np.float64), b.astype(np.float64)))
    assert kernels.dot(a, b) == pytest.approx(exact, rel=1e-14, abs=1e-300)
