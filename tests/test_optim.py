"""Optimizer classes: convergence, plain-NumPy references over several steps, options, state."""
import math

import numpy as np
import pytest

import nagd
from nagd.optim import SGD, AlphaMonitoredSGD, Adagrad, Adam, ExpDecaySGD, NaGD, RMSprop


def q(p):
    return 8.0 * p[0] ** 2 + 0.5 * p[1] ** 2


def q_grad(p):
    return np.array([16.0 * p[0], p[1]])


def rosen(p):
    return (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2


def rosen_grad(p):
    return np.array([-2.0 * (1.0 - p[0]) - 400.0 * p[0] * (p[1] - p[0] ** 2), 200.0 * (p[1] - p[0] ** 2)])


# One list for every test: hyperparameters that work on both problems below.
OPTIMIZERS = [
    (NaGD, {}),
    (NaGD, {"alpha": 0.7, "max_lr": None}),
    (SGD, {"lr": 1e-3}),
    (SGD, {"lr": 1e-3, "momentum": 0.9}),
    (SGD, {"lr": 1e-3, "momentum": 0.9, "nesterov": True}),
    (Adam, {"lr": 0.01}),
    (RMSprop, {"lr": 3e-4}),
    (Adagrad, {"lr": 0.5}),
    (ExpDecaySGD, {"lr0": 1e-3, "rate": 1e-5}),
    (AlphaMonitoredSGD, {"lr": 3e-3}),
]
IDS = [f"{cls.__name__}{kw}" for cls, kw in OPTIMIZERS]
PROBLEMS = {"quadratic": (q, q_grad, [1.0, 1.0]), "rosenbrock": (rosen, rosen_grad, [-1.2, 1.0])}


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=IDS)
def test_every_optimizer_converges(cls, kwargs, problem):
    fun, grad, x0 = PROBLEMS[problem]
    opt, x = cls(**kwargs), np.array(x0)
    for _ in range(20_000):
        f = fun(x)
        if f < 1e-4:
            break
        lr = opt.step(x, grad(x), f)
        assert lr == opt.last_lr and lr >= 0.0
    assert fun(x) < 1e-4


# ---------------------------------------------------------------- plain-NumPy references

def reference(cls, kwargs, steps):
    """Run the textbook update (PyTorch's forms) on (x, g, loss) triples; return x and lr after each step."""
    kw = dict(kwargs)
    x, out, state = steps[0][0].astype(np.float64).copy(), [], {}
    for t, (_, g, loss) in enumerate(steps, start=1):
        g = g.astype(np.float64)
        if cls is NaGD:
            lr = min(kw.get("max_lr", 1.0) or math.inf, kw.get("alpha", 1.0) * (loss - kw.get("lower_bound", 0.0)) / (g @ g))
            d = lr * g
        elif cls in (SGD, ExpDecaySGD, AlphaMonitoredSGD):
            lr = kw["lr0"] * math.exp(-kw["rate"] * (t - 1)) if cls is ExpDecaySGD else state.get("lr", kw.get("lr"))
            mu = kw.get("momentum", 0.0)
            if mu:
                state["buf"] = g.copy() if t == 1 else mu * state["buf"] + g      # PyTorch: b_1 = g_1
                d = lr * (g + mu * state["buf"] if kw.get("nesterov") else state["buf"])
            else:
                d = lr * g
            if cls is AlphaMonitoredSGD:
                state.setdefault("lr", lr)
                if (g @ d) / loss >= 2.0:
                    state["count"] = state.get("count", 0) + 1
                    if state["count"] == 3:
                        state["lr"], state["count"] = lr / 3.0, 0
                else:
                    state["count"] = 0
        elif cls is Adam:
            b1, b2 = kw.get("betas", (0.9, 0.999))
            lr, eps = kw["lr"], kw.get("eps", 1e-8)
            state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
            state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
            mhat, vhat = state["m"] / (1 - b1 ** t), state["v"] / (1 - b2 ** t)
            d = lr * mhat / (np.sqrt(vhat) + eps)
        elif cls is RMSprop:
            a, lr, eps = kw.get("alpha", 0.99), kw["lr"], kw.get("eps", 1e-8)
            state["v"] = a * state.get("v", 0.0) + (1 - a) * g * g
            d = lr * g / (np.sqrt(state["v"]) + eps)
        elif cls is Adagrad:
            lr, eps = kw["lr"], kw.get("eps", 1e-10)
            state["s"] = state.get("s", kw.get("initial_accumulator_value", 0.0)) + g * g
            d = lr * g / (np.sqrt(state["s"]) + eps)
        x = x - d
        out.append((x.copy(), lr, (g @ d) / (loss - kw.get("lower_bound", 0.0))))
    return out


def random_steps(n=6, size=5, seed=0):
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal(size)
    return [(x0, rng.standard_normal(size), float(rng.uniform(1.0, 5.0))) for _ in range(n)]


@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS + [(Adam, {"lr": 0.1, "betas": (0.5, 0.9), "eps": 1e-3}),
                                                      (RMSprop, {"lr": 0.1, "alpha": 0.5}),
                                                      (Adagrad, {"lr": 0.1, "eps": 1e-7,
                                                                 "initial_accumulator_value": 0.1}),
                                                      (NaGD, {"alpha": 1.5, "lower_bound": -1.0, "max_lr": 0.2}),
                                                      (SGD, {"lr": 0.2, "momentum": 0.5, "nesterov": True})])
def test_optimizer_matches_the_numpy_reference_for_several_steps(cls, kwargs):
    steps = random_steps()
    x = steps[0][0].copy()
    opt = cls(**kwargs)
    for (_, g, loss), (ref_x, ref_lr, ref_alpha) in zip(steps, reference(cls, kwargs, steps)):
        lr = opt.step(x, g, loss)
        np.testing.assert_allclose(x, ref_x, rtol=1e-12, atol=1e-14)
        assert lr == pytest.approx(ref_lr, rel=1e-12)
        assert opt.last_alpha == pytest.approx(ref_alpha, rel=1e-10)


def test_alpha_monitored_sgd_cuts_lr_after_patience_consecutive_high_alphas():
    # With g = (1,), loss = lr/a gives the step an equivalent alpha of exactly a.
    opt = AlphaMonitoredSGD(lr=0.3, threshold=2.0, patience=3, factor=0.5)
    pattern = [2.5, 2.5, 1.0, 2.0, 3.0, 2.1, 2.5, 2.5, 2.5, 0.5]
    lrs = []
    for a in pattern:
        x = np.array([0.0])
        lrs.append(opt.step(x, np.array([1.0]), opt.lr / a))
    # the third consecutive alpha >= 2 is step 6 (steps 4-6): step 7 uses lr/2; steps 7-9 make the next cut
    assert lrs == [0.3] * 6 + [0.15] * 3 + [0.075]
    opt.reset()
    assert opt.lr == 0.3 and opt.count == 0 and opt.t == 0


def test_exp_decay_schedule():
    opt = ExpDecaySGD(lr0=0.5, rate=0.1)
    lrs = [opt.step(np.zeros(2), np.ones(2)) for _ in range(4)]
    assert lrs == [0.5 * math.exp(-0.1 * t) for t in range(4)]


# ---------------------------------------------------------------- the readouts (Rosetta stone)

def test_nagd_equivalent_alpha_is_alpha_unless_capped():
    opt = NaGD(alpha=0.7, max_lr=None)
    x, g = np.array([3.0, -4.0]), np.array([3.0, -4.0])
    lr = opt.step(x, g, 12.5)
    assert lr == pytest.approx(0.7 * 12.5 / 25.0) and opt.last_alpha == pytest.approx(0.7)
    capped = NaGD(alpha=0.7, max_lr=0.01)
    assert capped.step(np.ones(2), np.ones(2), 100.0) == 0.01
    assert capped.last_alpha == pytest.approx(0.01 * 2 / 100.0)


def test_sgd_equivalent_alpha_matches_the_public_function():
    opt, g = SGD(lr=0.05), np.array([1.0, 2.0, -2.0])
    opt.step(np.zeros(3), g, 3.0)
    assert opt.last_alpha == pytest.approx(nagd.equivalent_alpha(0.05, 3.0, g))
    assert nagd.equivalent_lr(opt.last_alpha, 3.0, g) == pytest.approx(0.05)
    assert SGD(lr=0.05).step(np.zeros(3), g) == 0.05 and SGD().last_alpha is None


def test_nagd_without_progress_takes_no_step():
    opt, x = NaGD(lower_bound=1.0), np.array([1.0, 2.0])
    assert opt.step(x, np.array([1.0, 1.0]), 0.5) == 0.0                    # loss below the bound
    assert opt.step(x, np.zeros(2), 5.0) == 0.0                             # zero gradient
    assert np.array_equal(x, [1.0, 2.0]) and opt.last_alpha == 0.0


@pytest.mark.parametrize("max_lr", [1.0, None])
@pytest.mark.parametrize("loss, grad", [(math.inf, [3.0, -4.0]), (math.nan, [3.0, -4.0]),
                                        (1.0, [math.nan, 1.0]), (1.0, [math.inf, 1.0])])
def test_nagd_refuses_a_non_finite_loss_or_gradient(loss, grad, max_lr):
    # the Polyak family's one policy: an error naming the argument, params untouched (was: a full
    # or infinite step on an infinite loss, a silent zero step on a NaN gradient)
    x = np.array([3.0, -4.0])
    with pytest.raises(ValueError, match="loss must be a finite number|grad must be finite"):
        NaGD(max_lr=max_lr).step(x, np.array(grad), loss)
    assert np.array_equal(x, [3.0, -4.0])


# ---------------------------------------------------------------- state, dtype, reset

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=IDS)
def test_state_takes_the_params_dtype_and_reset_forgets_it(cls, kwargs, dtype):
    opt = cls(**kwargs)
    x, g = np.ones(4, dtype), np.full(4, 0.5, dtype)
    opt.step(x, g, 2.0)
    assert x.dtype == dtype and opt.t == 1
    for name in opt._state_names:
        state = getattr(opt, name)
        if state is not None:
            assert state.dtype == dtype and state.shape == (4,)
    opt.reset()
    assert opt.t == 0 and opt.last_lr is None and all(getattr(opt, n) is None for n in opt._state_names)


def test_float32_step_matches_float64_loosely():
    a, b = Adam(lr=0.1), Adam(lr=0.1)
    x32, x64 = np.ones(3, np.float32), np.ones(3)
    for _ in range(5):
        a.step(x32, np.array([1.0, -2.0, 0.5], np.float32), 1.0)
        b.step(x64, np.array([1.0, -2.0, 0.5]), 1.0)
    np.testing.assert_allclose(x32, x64, rtol=1e-6)


def test_params_changing_shape_mid_run_needs_reset():
    opt = Adam(lr=0.1)
    opt.step(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="call reset"):
        opt.step(np.ones(4), np.ones(4))
    opt.reset()
    opt.step(np.ones(4), np.ones(4))


@pytest.mark.parametrize("params, grad, error, match", [
    ([1.0, 2.0], [1.0, 2.0], TypeError, r"params\[0\] must be a numpy.ndarray, got float"),
    ({1.0, 2.0}, np.ones(2), TypeError, "params must be a numpy.ndarray, or a list, tuple or dict of them"),
    (np.ones((2, 2)), np.ones(4), ValueError, r"grad must match params in shape and dtype: params \(2, 2\)"),
    (np.ones(2, int), np.ones(2, int), TypeError, "params must be float32 or float64"),
    (np.ones(4)[::2], np.ones(2), ValueError, "params must be contiguous"),
    (np.ones(2), np.ones(3), ValueError, "grad must match params"),
    (np.ones(2), np.ones(2, np.float32), ValueError, "grad must match params"),
])
def test_bad_arrays(params, grad, error, match):
    with pytest.raises(error, match=match):
        NaGD().step(params, grad, 1.0)


@pytest.mark.parametrize("cls, kwargs, error, match", [
    (NaGD, {"alpha": 0.0}, ValueError, r"alpha must be in \(0, 2\]"),
    (NaGD, {"alpha": 2.5}, ValueError, r"alpha must be in \(0, 2\]"),
    (NaGD, {"max_lr": 0}, ValueError, "max_lr must be a positive number"),
    (NaGD, {"lower_bound": np.nan}, ValueError, "lower_bound must be a finite number"),
    (NaGD, {"alpha": None}, TypeError, "alpha must be a real number"),
    (SGD, {"lr": 0.0}, ValueError, "lr must be a positive finite number"),
    (SGD, {"lr": -1}, ValueError, "lr must be a positive finite number"),
    (SGD, {"lr": 0.1, "momentum": 1.0}, ValueError, r"momentum must be in \[0, 1\)"),
    (SGD, {"lr": 0.1, "nesterov": True}, ValueError, "nesterov=True needs momentum > 0"),
    (Adam, {"lr": np.inf}, ValueError, "lr must be a positive finite number"),
    (Adam, {"betas": (0.9, 1.0)}, ValueError, r"betas\[1\] must be in \[0, 1\)"),
    (Adam, {"betas": 0.9}, ValueError, "betas must be a pair"),
    (Adam, {"eps": 0}, ValueError, "eps must be a positive finite number"),
    (RMSprop, {"alpha": 1.5}, ValueError, r"alpha must be in \[0, 1\)"),
    (Adagrad, {"lr": True}, TypeError, "lr must be a real number"),
    (Adagrad, {"initial_accumulator_value": -0.1}, ValueError, "initial_accumulator_value must be a non-negative"),
    (ExpDecaySGD, {"lr0": 0.1, "rate": -1}, ValueError, "rate must be a non-negative finite number"),
    (AlphaMonitoredSGD, {"patience": 0}, ValueError, "patience must be a positive integer"),
    (AlphaMonitoredSGD, {"factor": 1.0}, ValueError, r"factor must be in \(0, 1\)"),
    (AlphaMonitoredSGD, {"threshold": -2}, ValueError, "threshold must be a positive finite number"),
])
def test_bad_options_raise_naming_the_argument(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)


def test_alpha_monitored_sgd_needs_the_loss():
    with pytest.raises(ValueError, match="loss is required"):
        AlphaMonitoredSGD().step(np.ones(2), np.ones(2), None)


def test_public_equivalents_check_their_arguments():
    with pytest.raises(ValueError, match="lr must be a non-negative finite number"):
        nagd.equivalent_alpha(-1.0, 1.0, np.ones(2))
    with pytest.raises(ValueError, match="loss must be a finite number"):
        nagd.equivalent_lr(0.5, np.nan, np.ones(2))
    assert nagd.equivalent_lr(0.5, 2.0, np.ones(2), max_lr=0.1) == 0.1


def test_repr_shows_the_hyperparameters():
    assert repr(NaGD(alpha=0.5, max_lr=None)) == "NaGD(alpha=0.5, lower_bound=0.0, max_lr=None)"
    # every constructor argument (these lost momentum, nesterov and lower_bound before)
    assert repr(ExpDecaySGD(0.1, 0.01, momentum=0.9, nesterov=True)) == (
        "ExpDecaySGD(lr0=0.1, rate=0.01, momentum=0.9, nesterov=True, lower_bound=0.0, check_finite=False)")


def test_against_torch_if_installed():
    torch = pytest.importorskip("torch")
    steps = random_steps(n=5, size=4, seed=3)
    cases = [(Adam, {"lr": 0.1}, torch.optim.Adam, {"lr": 0.1}),
             (RMSprop, {"lr": 0.05}, torch.optim.RMSprop, {"lr": 0.05}),
             (Adagrad, {"lr": 0.5}, torch.optim.Adagrad, {"lr": 0.5}),
             (Adagrad, {"lr": 0.5, "initial_accumulator_value": 0.1}, torch.optim.Adagrad,
              {"lr": 0.5, "initial_accumulator_value": 0.1}),
             (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}, torch.optim.SGD,
              {"lr": 0.1, "momentum": 0.9, "nesterov": True})]
    for cls, kw, tcls, tkw in cases:
        x = steps[0][0].copy()
        p = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        topt, opt = tcls([p], **tkw), cls(**kw)
        for _, g, loss in steps:
            opt.step(x, g, loss)
            p.grad = torch.tensor(g, dtype=torch.float64)
            topt.step()
        np.testing.assert_allclose(x, p.detach().numpy(), rtol=1e-10)
