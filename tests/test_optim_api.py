"""The optimizer API: the one registry, repr round trips, the loss forms a step accepts, the finite check."""
import math

import numpy as np
import pytest

import nagd
from nagd import optim
from nagd.diagnostics import AlphaMonitor
from nagd.optim import presets

# every class and preset, each with arguments away from its defaults
BUILT = [
    ("NaGD", {"alpha": 0.5, "lower_bound": -1.0, "max_lr": None}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "lower_bound": -1.0, "check_finite": True}),
    ("ExpDecaySGD", {"lr0": 0.1, "rate": 0.01, "momentum": 0.9, "nesterov": True, "lower_bound": -0.5}),
    ("AlphaMonitoredSGD", {"lr": 0.2, "threshold": 1.5, "patience": 2, "factor": 0.5, "momentum": 0.5}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "lower_bound": -1.0}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-6}),
    ("Adagrad", {"lr": 0.1, "eps": 1e-8, "check_finite": True}),
    ("PolyakSGD", {"alpha": 0.7, "lower_bound": optim.LevelBound(delta0=0.5, grow=2.0), "max_lr": 2.0,
                   "momentum": 0.5, "eps": 1e-3, "below": "skip", "record": True}),
    ("PolyakSGD", {"lower_bound": "auto"}),
    ("ALIG", {"max_lr": 1.0, "momentum": 0.9, "eps": 0.0, "alpha": 0.9, "adjusted_momentum": True}),
    ("MoMo", {"max_lr": 0.5, "beta": 0.8, "lower_bound": "auto", "weight_decay": 0.01, "bias_correction": True,
              "min_lower_bound": -1.0, "below": "skip"}),
    ("MoMoAdam", {"max_lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.01, "divide": False}),
    *[(name, {}) for name in presets.PRESETS],
    ("sps_max", {"c": 1.0, "gamma_b": 0.5, "lower_bound": -1.0}),
    ("alig", {"max_lr": 0.5, "momentum": 0.9, "adjusted_momentum": True}),
    ("momo_adam", {"lr": 0.1, "betas": (0.5, 0.9), "weight_decay": 0.1}),
]
IDS = [f"{name}{kw}" for name, kw in BUILT]
NAMESPACE = {name: getattr(optim, name) for name in optim.__all__}


def run_steps(opt, dtype=np.float64, steps=5):
    """A few steps on f = |x - 1|^2/2 + 0.1; the iterates and the readouts."""
    x = np.array([3.0, -4.0, 0.5], dtype=dtype)
    out = []
    for _ in range(steps):
        g = (x - 1).astype(dtype)
        f = 0.5 * nagd.kernels.sq_norm(g) + 0.1
        out.append((opt.step(x, g, f), opt.last_alpha))
    return x, out


@pytest.mark.parametrize("name, kwargs", BUILT, ids=IDS)
def test_repr_round_trips_through_eval(name, kwargs):
    opt = optim.make(name, **kwargs)
    text = repr(opt)
    again = eval(text, NAMESPACE)
    assert type(again) is type(opt) and repr(again) == text
    if name in presets.PRESETS:                      # the class built from a preset's repr: same steps
        x1, r1 = run_steps(optim.make(name, **kwargs))
    else:
        x1, r1 = run_steps(opt)
    x2, r2 = run_steps(again)
    assert np.array_equal(x1, x2) and r1 == r2


def test_repr_keeps_every_argument():
    assert "nesterov=True" in repr(optim.ExpDecaySGD(0.1, 0.01, momentum=0.9, nesterov=True))
    assert "momentum=0.5" in repr(optim.AlphaMonitoredSGD(momentum=0.5))
    momo = repr(optim.MoMo(bias_correction=True, min_lower_bound=-2.0))
    assert "bias_correction=True" in momo and "min_lower_bound=-2.0" in momo
    assert "LevelBound(delta0=0.5," in repr(optim.PolyakSGD(lower_bound=optim.LevelBound(delta0=0.5)))
    assert repr(optim.SGD(lr=np.float32(0.5), momentum=np.float64(0.25))).startswith("SGD(lr=0.5, momentum=0.25,")


def test_make_knows_every_class_and_preset_and_nothing_else():
    for name in optim.NAMES:
        assert isinstance(optim.make(name, **({"lr0": 0.1, "rate": 0.0} if name == "ExpDecaySGD" else {})),
                          optim.Optimizer)
    assert type(optim.make("nagd")) is optim.NaGD and type(optim.make("rmsprop")) is optim.RMSprop
    assert type(optim.make("alig")) is optim.ALIG and repr(optim.make("alig")) == repr(presets.alig())
    for bad in ("lbfgs", "LevelBound", "equivalent_alpha", "Optimizer"):
        with pytest.raises(ValueError, match="name must be one of"):
            optim.make(bad)
    with pytest.raises(TypeError, match="name must be a string"):
        optim.make(optim.SGD)
    with pytest.raises(TypeError):
        optim.make("sps_max", alpha=0.5)             # the preset takes the published names only
    with pytest.raises(ValueError, match="alpha must be in"):
        optim.make("nagd", alpha=3.0)


@pytest.mark.parametrize("name", [n for n in optim.NAMES if n != "ExpDecaySGD"] + ["ExpDecaySGD"])
@pytest.mark.parametrize("form", [lambda v: v, np.float32, np.float64, lambda v: np.array([v]),
                                  lambda v: np.array([[v]]), lambda v: np.array(v), lambda v: [v]],
                         ids=["float", "float32", "float64", "array1", "array11", "array0", "list1"])
def test_step_accepts_the_loss_in_every_form_minimize_accepts(name, form):
    kwargs = {"lr0": 0.1, "rate": 0.0} if name == "ExpDecaySGD" else {}
    ref, got = optim.make(name, **kwargs), optim.make(name, **kwargs)
    x1, x2 = np.array([3.0, -4.0]), np.array([3.0, -4.0])
    assert ref.step(x1, x1.copy(), 12.5) == got.step(x2, x2.copy(), form(12.5))      # 12.5: exact in float32
    assert np.array_equal(x1, x2) and ref.last_alpha == got.last_alpha


@pytest.mark.parametrize("name", ["NaGD", "SGD", "Adam", "PolyakSGD", "MoMo"])
def test_a_loss_that_is_not_one_real_number_is_refused_before_any_change(name):
    opt, x = optim.make(name), np.array([3.0, -4.0])
    with pytest.raises(ValueError, match="loss must be a scalar or a one-element array"):
        opt.step(x, x.copy(), np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="loss must be a real number"):
        opt.step(x, x.copy(), 1 + 1j)
    with pytest.raises(TypeError, match="loss must be a real number"):
        opt.step(x, x.copy(), "1.0")
    assert np.array_equal(x, [3.0, -4.0]) and opt.t == 0


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_baselines_write_nan_as_pytorch_does_unless_check_finite(name):
    grad = np.array([np.nan, 1.0])
    opt, x = optim.make(name, lr=0.1), np.array([3.0, -4.0])
    opt.step(x, grad, 1.0)
    assert np.isnan(x[0])                                    # documented: like torch.optim
    checked, y = optim.make(name, lr=0.1, check_finite=True), np.array([3.0, -4.0])
    with pytest.raises(ValueError, match="grad must be finite"):
        checked.step(y, grad, 1.0)
    with pytest.raises(ValueError, match="loss must be a finite number"):
        checked.step(y, np.ones(2), math.inf)
    assert np.array_equal(y, [3.0, -4.0]) and checked.t == 0
    checked.step(y, np.ones(2), None)                         # no loss: only the gradient is checked
    assert checked.t == 1


def test_one_alpha_monitor_rule_at_or_above_the_threshold():
    # alpha exactly 2.0 (the paper: "alpha >= 2.0 ... for 3 consecutive steps") counts for both
    mon = AlphaMonitor(threshold=2.0, patience=3, warn=False)
    assert [mon(2.0) for _ in range(3)] == [False, False, True] and mon.above == 3 and mon.alarms == 1
    assert mon(1.999) is False and mon.streak == 0
    opt = optim.AlphaMonitoredSGD(lr=1.0, threshold=2.0, patience=3, factor=0.5)
    x = np.array([1.0])
    for _ in range(3):                                        # f = x^2, g = 2x: alpha = lr*4x^2/x^2 = 4
        opt.step(x, 2 * x, x[0] ** 2)
    assert opt.lr == 0.5
    opt2 = optim.AlphaMonitoredSGD(lr=0.5, threshold=2.0, patience=1, factor=0.5)
    x = np.array([1.0])
    opt2.step(x, 2 * x, x[0] ** 2)                            # alpha = 0.5*4/1 = 2.0 exactly: counts
    assert opt2.lr == 0.25


@pytest.mark.parametrize("name, kwargs", [("ExpDecaySGD", {"lr0": 0.3, "rate": 0.013}), ("SGD", {"lr": 0.1}),
                                          ("Adam", {"lr": 0.01}), ("AlphaMonitoredSGD", {"lr": 0.01})])
def test_lr_schedule_is_exactly_what_step_uses(name, kwargs):
    opt = optim.make(name, **kwargs)
    x = np.array([3.0, -4.0])
    used = [opt.step(x, 0.01 * x, 0.5 * float(x @ x)) for _ in range(60)]   # alpha stays small: no cut
    assert np.array_equal(optim.make(name, **kwargs).lr_schedule(60), used)
