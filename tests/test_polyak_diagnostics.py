"""Per-step records, the equivalent-alpha monitor and the oscillation stopping rule."""
import math

import numpy as np
import pytest
import scipy.optimize as so

from nagd import problems
from nagd.diagnostics import AlphaMonitor, HighAlphaWarning, OscillationStop
from nagd.optim import HISTORY_FIELDS, SGD, Adam, ALIG, MoMo, MoMoAdam, NaGD, PolyakSGD


def test_record_of_a_plain_step_and_a_capped_one():
    opt = PolyakSGD(alpha=0.5, lower_bound=1.0, max_lr=0.1, record=True)
    x = np.array([2.0, 1.0])
    opt.step(x, np.array([3.0, 4.0]), 11.0)                      # ratio 0.5*10/25 = 0.2 > 0.1: capped
    opt.step(x, np.array([3.0, 4.0]), 3.5)                       # ratio 0.5*2.5/25 = 0.05: not capped
    h = opt.history
    assert set(h) == set(HISTORY_FIELDS)
    assert h["ratio"] == [pytest.approx(0.2), pytest.approx(0.05)]
    assert h["lr"] == [0.1, pytest.approx(0.05)]
    assert h["capped"] == [True, False]
    assert h["gap"] == [10.0, 2.5]
    assert h["grad_sq_norm"] == [25.0, 25.0]
    assert h["alpha"] == [pytest.approx(0.1 * 25 / 10), pytest.approx(0.5)]   # the cap lowers the alpha
    assert h["eq_lr"] == [pytest.approx(0.1), pytest.approx(0.05)]
    assert h["lower_bound"] == [1.0, 1.0]


@pytest.mark.parametrize("make", [lambda: PolyakSGD(momentum=0.9, record=True),
                                  lambda: ALIG(momentum=0.9, record=True),
                                  lambda: ALIG(momentum=0.9, adjusted_momentum=True, record=True),
                                  lambda: MoMo(record=True), lambda: MoMoAdam(max_lr=0.1, record=True)])
def test_record_of_momentum_steps_measures_the_step_taken(rng, make):
    opt = make()
    x = rng.standard_normal(6)
    for _ in range(5):
        f, g = 0.5 * float(x @ x), x.copy()
        before = x.copy()
        opt.step(x, g, f)
        dec = float(g @ (before - x))                            # first-order predicted decrease
        assert opt.history["alpha"][-1] == pytest.approx(dec / f, rel=1e-10)
        assert opt.history["eq_lr"][-1] == pytest.approx(dec / float(g @ g), rel=1e-10)
        assert opt.last_alpha == opt.history["alpha"][-1]
    assert len(opt.history["lr"]) == 5


def test_record_is_off_by_default_and_cleared_by_reset():
    assert PolyakSGD().history is None
    opt = PolyakSGD(record=True)
    opt.step(np.ones(2), np.ones(2), 1.0)
    opt.reset()
    assert opt.history == {k: [] for k in HISTORY_FIELDS}


def quadratic_steps(opt, monitor, n):
    x = np.array([1.0, 1.0])
    for _ in range(n):
        opt.step(x, problems.quadratic_grad(x), problems.quadratic(x))
        monitor(opt)


@pytest.mark.parametrize("opt", [SGD(lr=0.12), SGD(lr=0.3, momentum=0.5)], ids=["sgd", "sgd-momentum"])
def test_monitor_warns_when_alpha_stays_above_two(opt):
    mon = AlphaMonitor(threshold=2.0, patience=3)
    with pytest.warns(HighAlphaWarning, match="equivalent alpha at or above 2 for 3 steps in a row"):
        quadratic_steps(opt, mon, 60)
    assert mon.alarms >= 1 and mon.above >= 3


def test_monitor_reads_adam_steps(rng):
    opt, mon = Adam(lr=0.5), AlphaMonitor(warn=False)
    x, above = np.array([1.0, 1.0]), 0
    for _ in range(40):
        f, g = problems.quadratic(x), problems.quadratic_grad(x)
        before = x.copy()
        opt.step(x, g, f)
        mon(opt)
        above += float(g @ (before - x)) / f > 2.0              # Adam's equivalent alpha, from the step taken
    assert mon.above == above > 0


def test_monitor_is_quiet_for_nagd_and_small_learning_rates():
    for opt in (NaGD(alpha=0.7), SGD(lr=0.01), PolyakSGD(alpha=1.9)):
        mon = AlphaMonitor()
        quadratic_steps(opt, mon, 60)                            # warnings are errors in the test suite
        assert mon.alarms == 0 and mon.steps == 60


def test_monitor_counts_streaks_and_ignores_missing_alphas():
    mon = AlphaMonitor(patience=2, warn=False)
    alarms = [mon(a) for a in (3.0, 3.0, 3.0, 1.0, 2.5, None, 2.5)]
    assert alarms == [False, True, True, False, False, False, True]
    assert (mon.steps, mon.above, mon.alarms) == (6, 5, 2)


@pytest.mark.parametrize("kw, match", [({"threshold": 0}, "threshold must be a positive"),
                                       ({"patience": 0}, "patience must be a positive integer")])
def test_monitor_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        AlphaMonitor(**kw)


def test_oscillation_stop_waits_while_the_lr_falls():
    rng = np.random.default_rng(0)
    rule = OscillationStop(window=50, min_drop=0.05, patience=3)
    t = np.arange(2000)
    falling = 10.0 ** (-1.0 - 0.004 * t + 0.1 * rng.standard_normal(2000))   # 0.2 decades per window
    assert not any(rule.update(v) for v in falling)
    flat = 10.0 ** (-9.0 + 0.1 * rng.standard_normal(1000))                  # converged: no trend
    fired = [rule.update(v) for v in flat]
    assert rule.stopped and fired.index(True) + 1 <= 4 * 50       # within patience + 1 windows
    assert rule.stop_step == 2000 + fired.index(True) + 1


def test_oscillation_stop_skips_zero_steps():
    rule = OscillationStop(window=2, min_drop=0.05, patience=1)
    assert not any(rule.update(v) for v in (1.0, 0.0, 1.0, 0.1, 0.0, 0.1))
    assert rule.medians == [0.0, -1.0]


@pytest.mark.parametrize("kw, match", [({"window": 0}, "window must be a positive integer"),
                                       ({"patience": 1.5}, "patience must be a positive integer"),
                                       ({"min_drop": math.nan}, "min_drop must be a finite")])
def test_oscillation_stop_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        OscillationStop(**kw)


def test_oscillation_stop_as_a_scipy_callback():
    from nagd import nagd
    rule = OscillationStop(window=20, min_drop=0.05, patience=2)
    res = so.minimize(problems.rosenbrock, np.array([-3.0, -4.0]), jac=problems.rosenbrock_grad, method=nagd,
                      callback=rule, options={"alpha": 0.7, "maxiter": 5000, "tol": 0.0, "gtol": 0.0})
    assert res.status == 99 and rule.stopped
    assert res.nit == rule.stop_step + 1 < 5000                 # the callback sees steps 1..nit
    # the equivalent lr the callback computed from iterates and gradients is NaGD's step size
    x, opt, lrs = np.array([-3.0, -4.0]), NaGD(alpha=0.7), []
    for _ in range(21):
        lrs.append(opt.step(x, problems.rosenbrock_grad(x), problems.rosenbrock(x)))
    assert rule.medians[0] == pytest.approx(np.median(np.log10(lrs[1:])), rel=1e-9)   # scipy calls back from x_1


def test_oscillation_stop_ends_training():
    from nagd.nn import Dense, Sequential, fit, mse
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(40, 3))
    y = np.tanh(X @ rng.standard_normal((3, 2)))
    model = Sequential([Dense(2, "tanh")], (3,), seed=0)
    rule = OscillationStop(window=10, min_drop=100.0, patience=1)   # no window counts as progress
    hist = fit(model, NaGD(alpha=0.7), X, y, mse, epochs=5, seed=0, on_step=rule.on_step, on_epoch=rule.on_epoch)
    assert rule.stop_step == 20
    assert hist["epoch"] == [0, 1] and hist["step"] == [0, 20]


def test_fit_stop_option_ends_training_after_the_rule_fires():
    from nagd.nn import Dense, Sequential, fit, mse
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(40, 3))
    y = np.tanh(X @ rng.standard_normal((3, 2)))
    model = Sequential([Dense(2, "tanh")], (3,), seed=0)
    seen = []
    rule = OscillationStop(window=10, min_drop=100.0, patience=1)
    hist = fit(model, NaGD(alpha=0.7), X, y, mse, epochs=5, seed=0, stop=rule,
               on_step=lambda step, value, opt: seen.append(step))
    assert rule.stop_step == 20 and seen[-1] == 20               # the user's hook still runs
    assert hist["epoch"] == [0, 1] and hist["step"] == [0, 20]
    with pytest.raises(TypeError, match="stop must have an update"):
        fit(model, NaGD(), X, y, mse, epochs=1, stop=object())


def test_nagd_stop_option_ends_with_status_4():
    import nagd
    seen = []
    rule = OscillationStop(window=20, min_drop=0.05, patience=2)
    res = so.minimize(problems.rosenbrock, np.array([-3.0, -4.0]), jac=problems.rosenbrock_grad,
                      method=nagd.nagd, callback=lambda xk: seen.append(xk[0]),
                      options={"alpha": 0.7, "maxiter": 5000, "tol": 0.0, "gtol": 0.0, "stop": rule})
    assert res.status == 4 and not res.success and "stopping rule" in res.message   # it certifies nothing
    assert rule.stopped and res.nit == rule.stop_step < 5000      # the rule sees every step; x_nit is tested
    assert len(seen) == res.nit                                  # the user's callback still runs
    same = nagd.minimize(problems.rosenbrock, np.array([-3.0, -4.0]), jac=problems.rosenbrock_grad, alpha=0.7,
                         maxiter=5000, tol=0.0, gtol=0.0, stop=OscillationStop(window=20, min_drop=0.05, patience=2))
    assert same.status == 4 and same.nit == res.nit
    np.testing.assert_array_equal(same.x, res.x)


def test_nagd_stop_option_leaves_other_statuses_alone():
    import nagd
    rule = OscillationStop(window=1000)
    res = nagd.minimize(problems.quadratic, np.array([1.0, 1.0]), jac=problems.quadratic_grad, alpha=0.7, stop=rule)
    assert res.status == 0 and not rule.stopped                  # converged (tol) before the rule could fire

    def user(intermediate_result):
        raise StopIteration

    res = nagd.minimize(problems.quadratic, np.array([1.0, 1.0]), jac=problems.quadratic_grad, callback=user,
                        stop=OscillationStop())
    assert res.status == 99
    with pytest.raises(TypeError, match="stop must have an update"):
        nagd.minimize(problems.quadratic, np.array([1.0, 1.0]), jac=problems.quadratic_grad, stop=3)
