"""Presets pinned by a few steps computed by hand on f(x) = (x1^2 + 4 x2^2)/2 from x0 = (2, 1).

f(x0) = 4, g(x0) = (2, 4), ||g||^2 = 20.
"""
import numpy as np
import pytest

from nagd.optim import ALIG, MoMo, MoMoAdam, PolyakSGD
from nagd.optim import make
from nagd.optim.presets import PRESETS, alig, momo, momo_adam, nasgd, sps_max, sps_plus


def f(x):
    return 0.5 * (x[0] ** 2 + 4.0 * x[1] ** 2)


def g(x):
    return np.array([x[0], 4.0 * x[1]])


def steps(opt, n, x0=(2.0, 1.0)):
    x, out = np.array(x0), []
    for _ in range(n):
        out.append(opt.step(x, g(x), f(x)))
    return x, out


def test_sps_max():
    # step 1: 4/(0.5*20) = 0.4 -> (1.2, -0.6); f = 1.44, g = (1.2, -2.4), |g|^2 = 7.2
    # step 2: 1.44/(0.5*7.2) = 0.4 -> (0.72, 0.36)
    x, lrs = steps(sps_max(c=0.5, gamma_b=1.0), 2)
    np.testing.assert_allclose(lrs, [0.4, 0.4], rtol=1e-14)
    np.testing.assert_allclose(x, [0.72, 0.36], rtol=1e-14)
    # gamma_b = 0.3 caps both steps: (2, 1) -> (1.4, -0.2) -> (1.4 - 0.42, -0.2 + 0.24)
    x, lrs = steps(sps_max(c=0.5, gamma_b=0.3), 2)
    assert lrs == [0.3, 0.3]
    np.testing.assert_allclose(x, [0.98, 0.04], rtol=1e-13)
    # c = 1: 4/20 = 0.2
    assert steps(sps_max(c=1.0, gamma_b=None), 1)[1] == [pytest.approx(0.2, rel=1e-15)]


def test_sps_max_rejects_small_c():
    with pytest.raises(ValueError, match=r"c must be >= 0.5 \(alpha = 1/c must not exceed 2\), got 0.25"):
        sps_max(c=0.25)


def test_sps_plus():
    # step 1: 4/20 = 0.2 -> (1.6, 0.2); f = 1.36, g = (1.6, 0.8), |g|^2 = 3.2
    # step 2: 1.36/3.2 = 0.425 -> (0.92, -0.14)
    x, lrs = steps(sps_plus(), 2)
    np.testing.assert_allclose(lrs, [0.2, 0.425], rtol=1e-14)
    np.testing.assert_allclose(x, [0.92, -0.14], rtol=1e-13)
    # the positive part: f = 4 below f* = 5 takes no step
    x, lrs = steps(sps_plus(lower_bound=5.0), 1)
    assert lrs == [0.0] and list(x) == [2.0, 1.0]


def test_alig():
    # step 1: min(0.1, 4/20) = 0.1; x - 0.1 g = (1.8, 0.6); b = -0.1 g = (-0.2, -0.4); x + 0.5 b = (1.7, 0.4)
    # step 2: f = 1.765, g = (1.7, 1.6), |g|^2 = 5.45, step min(0.1, 0.32) = 0.1; x - 0.1 g = (1.53, 0.24)
    #         b = 0.5 (-0.2, -0.4) - 0.1 (1.7, 1.6) = (-0.27, -0.36); x + 0.5 b = (1.395, 0.06)
    x, lrs = steps(alig(max_lr=0.1, momentum=0.5, eps=0.0), 2)
    assert lrs == [0.1, 0.1]
    np.testing.assert_allclose(x, [1.395, 0.06], rtol=1e-13)
    # the official eps = 1e-5 in the denominator: 4/(20 + 1e-5)
    assert steps(alig(), 1)[1][0] == pytest.approx(4.0 / (20.0 + 1e-5), rel=1e-15)


def test_nasgd():
    # step 1: 0.5*4/20 = 0.1 -> (1.8, 0.6); f = 2.34, g = (1.8, 2.4), |g|^2 = 9
    # step 2: 0.5*2.34/9 = 0.13 -> (1.566, 0.288)
    x, lrs = steps(nasgd(alpha=0.5), 2)
    np.testing.assert_allclose(lrs, [0.1, 0.13], rtol=1e-14)
    np.testing.assert_allclose(x, [1.566, 0.288], rtol=1e-13)
    # Algorithm 1's cap of 1: 0.5*(4 + 100)/20 = 2.6 -> 1, (2, 1) - (2, 4) = (0, -3)
    x, lrs = steps(nasgd(alpha=0.5, lower_bound=-100.0), 1)
    assert lrs == [1.0]
    np.testing.assert_array_equal(x, [0.0, -3.0])


def test_momo_preset_first_step_is_the_polyak_step():
    # no bias correction: the averages start at the first values, so step 1 is min(1, 4/20) = 0.2
    x, lrs = steps(momo(), 1)
    assert lrs == [pytest.approx(0.2, rel=1e-15)]
    np.testing.assert_allclose(x, [1.6, 0.2], rtol=1e-14)


def test_momo_adam_preset_first_step_is_sign_descent_capped():
    # m = 0.1 g, D = |g|, rho = 0.1: nominator 0.1*4, |m|^2_D = 0.01*(2 + 4): ratio 0.4/0.06 > lr/rho = 0.1
    # so tau = 0.1 and x - 0.1 * 0.1 g/|g| = (2, 1) - 0.01 (1, 1)
    x, lrs = steps(momo_adam(), 1)
    assert lrs == [pytest.approx(0.1, rel=1e-12)]
    np.testing.assert_allclose(x, [1.99, 0.99], rtol=1e-9)


def test_make_builds_every_preset():
    kinds = {"nasgd": PolyakSGD, "sps_max": PolyakSGD, "sps_plus": PolyakSGD, "alig": ALIG, "momo": MoMo,
             "momo_adam": MoMoAdam}
    assert set(PRESETS) == set(kinds)
    for name, cls in kinds.items():
        assert type(make(name)) is cls
    with pytest.raises(ValueError, match="name must be one of"):
        make("adamw")
