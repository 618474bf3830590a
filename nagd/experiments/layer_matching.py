"""Section 3 of the paper: the dense layer matching task (Figures 4-7).

The task: a random dense layer ``R^10 -> R^4`` with tanh (`nagd.data.make_layer_matching`)
maps 200 inputs drawn from [0, 1]^10; the pairs are split 100/100. A freshly
initialised layer of the same shape is trained with minibatches of one sample
(100 steps an epoch, 45 epochs), and progress is the mean Euclidean distance
between predicted and expected outputs on the test half, averaged over 50 runs.

Which half is trained on
    The paper says the layers were "trained on the test set" and measured on the
    test set, yet it splits the data "one for training and one for testing". We
    read the first phrase as a slip: by default we train on the training half and
    measure on the held-out test half (``"train_on": "train"``). The model has
    exactly the capacity of the data-generating layer and the targets are
    noise-free, so the held-out distance follows the training distance closely;
    ``"train_on": "test"`` gives the literal reading.

Loss
    The paper does not name its training loss. We train on the Euclidean distance
    of the one sample, ``||tanh(x W + b) - y||`` (the paper's metric; L = 0 for
    NaSGD), because only this loss reproduces the paper's observations: its
    gradient does not vanish at the optimum, so constant-lr SGD and the adaptive
    baselines stall at an lr-dependent floor (Figure 4's "saturation points") with
    an equivalent alpha that settles above 2 (Figure 6), while NaSGD's equivalent
    lr ``alpha * f / ||g||^2`` shrinks with f, exponentially (Figures 6 and 7).
    With the MSE (``"loss": "mse"``) SGD converges linearly, the equivalent alpha
    of SGD stays below 1 and NaSGD's equivalent lr stays constant, none of which
    the paper shows. Both the hidden layer and the trained one use PyTorch's
    ``nn.Linear`` initialisation.

Precision
    ``"dtype"`` sets the dtype of the data, the parameters, the gradient and the
    optimizer state: float32 by default, as in the paper's frameworks, float64 for
    one extra config. The compiled loop accumulates the affine map, the loss and
    the reductions in float64 and rounds what it stores (gradient, parameters,
    state) to the dtype; the `nagd.nn` path computes in the dtype, so in float32
    the two paths agree only loosely. A converging run stops at a floor set by the
    precision of the stored parameters: near 1e-7 in float32 (the paper's "progress
    stabilizing around 1e-7"), below 1e-12 in float64.

Runs and seeds
    One *run* of a config trains every series of the config (e.g. every learning
    rate of a Figure-4 panel) on one data set, one initial layer and one sample
    order, all drawn from the run's seed, so series of one config are compared on
    common random numbers. ``config["runs"]`` (50) such runs are averaged.

The compiled path
    `train_compiled` runs a whole training run in one Numba function that calls
    the `nagd.kernels` step kernels directly (see docs/benchmarks.md for its cost
    per step). The reference path `train_python` does the same through
    `nagd.nn.Sequential`, `nagd.nn.losses` and the `nagd.optim` classes; in float64
    the two agree to rounding (tested). tanh is computed as in Cephes (within 2 ulp
    of NumPy's, four times as fast as libm's). For NaSGD the squared gradient norm comes from
    ``(1 + ||x||^2) ||dz||^2`` (the gradient of a dense layer on one sample is
    ``(x dz^T, dz)``) and the gradient is applied in one pass with the
    roundings of ``kernels.axpy``, without writing g; the other optimizers call
    their kernels on the written gradient. The test distance is measured every
    ``eval_every`` steps, and the lr and equivalent alpha are averaged over the
    same blocks of steps.

Figure 7's exponential schedules
    ``"decay028"``, ``"decay052"`` and ``"decay090"`` are exponentials
    ``lr0 * exp(-rate * t)`` fitted by least squares to the log of NaSGD(0.7)'s mean
    equivalent learning rate over the first 1500, 600 and 200 steps. The fit is
    made by `fit_exponential` inside `run`, from 50 separate NaSGD(0.7) runs with
    fixed seeds (so a run stays a pure function of its config). We read the
    paper's names as the fitted decay rate per epoch (0.28, 0.52 and 0.90 per 100
    steps: a longer window gives a slower rate, as ours do); the report prints our
    fitted rates beside them.
"""
import functools
import math
import os

import numpy as np
from numba import njit

from .. import kernels, optim
from ..data import make_layer_matching
from ..nn import Dense, Sequential, mean_distance, mse
from ..nn.train import minibatches
from . import published

__all__ = [
    "CONFIGS", "QUICK", "TARGETS", "PUBLISHED", "run", "report",
    "train_compiled", "train_python", "fit_exponential", "fitted_schedule",
    "initial_params", "sample_order",
]

STEPS_PER_EPOCH = 100
PUBLISHED = published.LAYER_MATCHING

# ----------------------------------------------------------------------------------------------
# Optimizers: one code per class, and the hyperparameter vector of the compiled loop

NAGD, SGD, ADAM, RMSPROP, ADAGRAD, EXPDECAY, ALPHAMON = range(7)
_CLASSES = {
    "nagd": (NAGD, optim.NaGD), "sgd": (SGD, optim.SGD), "adam": (ADAM, optim.Adam),
    "rmsprop": (RMSPROP, optim.RMSprop), "adagrad": (ADAGRAD, optim.Adagrad),
    "expdecay": (EXPDECAY, optim.ExpDecaySGD), "alpha_monitored": (ALPHAMON, optim.AlphaMonitoredSGD),
}
# the section's names of the two schedules of section 3.3 (kept: they are part of stored run configs)
_LABELS = {"expdecay": "ExpDecaySGD", "alpha_monitored": "AlphaMonitoredSGD"}
# indices into the hyperparameter vector
H_LR, H_MOMENTUM, H_NESTEROV, H_BETA1, H_BETA2, H_EPS, H_LOWER, H_MAXLR, H_RATE, H_THRESH, H_PATIENCE, \
    H_FACTOR, H_ALPHA = range(13)


def _optimizer(name, params):
    """The optimizer of a series: ``name`` is a `nagd.optim.make` name or one of this section's labels."""
    return optim.make(_LABELS.get(name, name), **params)


def _hyper(opt):
    """(code, float64 vector) describing an optimizer to the compiled loop.

    Only the seven classes of `make_optimizer` are accepted, by exact type: a subclass
    could change the update, which the compiled loop would not follow.
    """
    codes = {cls: code for code, cls in _CLASSES.values()}
    if type(opt) not in codes:
        raise TypeError(f"optimizer must be one of {', '.join(c.__name__ for c in codes)}, got {type(opt).__name__}")
    code = codes[type(opt)]
    h = np.zeros(13)
    if code == NAGD:
        h[H_ALPHA], h[H_MAXLR] = opt.alpha, opt.max_lr
    elif code in (SGD, EXPDECAY, ALPHAMON):
        h[H_LR], h[H_MOMENTUM], h[H_NESTEROV] = opt.lr, opt.momentum, float(opt.nesterov)
        if code == EXPDECAY:
            h[H_LR], h[H_RATE] = opt.lr0, opt.rate
        if code == ALPHAMON:
            h[H_LR], h[H_THRESH], h[H_PATIENCE], h[H_FACTOR] = opt.lr_init, opt.threshold, opt.patience, opt.factor
    elif code == ADAM:
        h[H_LR], h[H_BETA1], h[H_BETA2], h[H_EPS] = opt.lr, opt.beta1, opt.beta2, opt.eps
    elif code == RMSPROP:
        h[H_LR], h[H_ALPHA], h[H_EPS] = opt.lr, opt.alpha, opt.eps
    else:
        h[H_LR], h[H_EPS] = opt.lr, opt.eps
    h[H_LOWER] = opt.lower_bound
    return code, h


# ----------------------------------------------------------------------------------------------
# The compiled training run


@njit(cache=True)
def _tanh(z):
    """tanh(z) within 2 ulp of NumPy's, about four times as fast as ``math.tanh`` here.

    Cephes' method (S. L. Moshier, ``tanh.c``): for |z| < 0.625 a rational function
    ``z + z^3 P(z^2)/Q(z^2)``; above, ``1 - 2/(exp(2|z|) + 1)`` with the sign of z, and 1
    beyond |z| = 20 (where tanh rounds to 1). NaN gives NaN.
    """
    a = abs(z)
    if a < 0.625:
        x2 = z * z
        num = (-9.64399179425052238628e-1 * x2 - 9.92877231001918586564e1) * x2 - 1.61468768441708447952e3
        den = ((x2 + 1.12811678491632931402e2) * x2 + 2.23548839060100448583e3) * x2 + 4.84406305325125486048e3
        return z + z * x2 * (num / den)
    if a > 20.0:
        r = 1.0
    else:
        r = 1.0 - 2.0 / (math.exp(2.0 * a) + 1.0)
    return r if z >= 0.0 else -r


@njit(cache=True)
def _affine(p, X, i, z):
    """z <- X[i] @ W + b for p = [W.ravel(), b] (W of shape (d, m)); sums in float64, b added last."""
    d = X.shape[1]
    m = z.shape[0]
    for j in range(m):
        acc = 0.0                   # a register, not z[j]: no store and reload per term
        for k in range(d):
            acc += X[i, k] * p[k * m + j]
        z[j] = acc + p[d * m + j]


@njit(cache=True)
def _test_distance(p, X, Y, z):
    """Mean over the rows of X of ||tanh(X[i] @ W + b) - Y[i]||; z is scratch of length m."""
    n = X.shape[0]
    m = Y.shape[1]
    total = 0.0
    for i in range(n):
        _affine(p, X, i, z)
        ss = 0.0
        for j in range(m):
            diff = _tanh(z[j]) - Y[i, j]
            ss += diff * diff
        total += math.sqrt(ss)
    return total / n


@njit(cache=True)
def _forward(p, X, Y, i, dist_loss, z, dz):
    """Loss of sample i (||a - y|| or mean (a - y)^2, a = tanh(x W + b)); dz <- dloss/d(x W + b).

    z is scratch of length m. Returns the loss and ``||dz||^2`` (float64): the
    gradient is ``g = (x dz^T, dz)``, so ``||g||^2 = (1 + ||x||^2) ||dz||^2``.
    """
    m = Y.shape[1]
    _affine(p, X, i, z)
    loss = 0.0
    for j in range(m):
        aj = _tanh(z[j])
        diff = aj - Y[i, j]
        z[j] = diff
        dz[j] = 1.0 - aj * aj
        loss += diff * diff
    if dist_loss:
        loss = math.sqrt(loss)
        scale = 1.0 / loss if loss > 0.0 else 0.0     # subgradient 0 at a perfect fit
    else:
        loss = loss / m
        scale = 2.0 / m
    dzz = 0.0
    for j in range(m):
        v = z[j] * scale * dz[j]
        dz[j] = v
        dzz += v * v
    return loss, dzz


@njit(cache=True)
def _gradient(X, i, dz, g):
    """g <- (x dz^T).ravel() followed by dz, for x = X[i]: the layout of p."""
    d = X.shape[1]
    m = dz.shape[0]
    for k in range(d):
        xk = X[i, k]
        for j in range(m):
            g[k * m + j] = xk * dz[j]
    for j in range(m):
        g[d * m + j] = dz[j]


@njit(cache=True)
def _gradient_step(p, X, i, dz, lr):
    """p <- p - lr*g for g = `_gradient` (X, i, dz), without writing g.

    Each g entry is rounded to the dtype of p first, as a stored gradient would be, so
    this equals ``_gradient(X, i, dz, g); kernels.axpy(p, g, lr)`` exactly.
    """
    d = X.shape[1]
    m = dz.shape[0]
    single = p.itemsize == 4
    for k in range(d):
        xk = X[i, k]
        for j in range(m):
            v = xk * dz[j]
            if single:
                v = np.float64(np.float32(v))
            p[k * m + j] -= lr * v
    for j in range(m):
        v = dz[j]
        if single:
            v = np.float64(np.float32(v))
        p[d * m + j] -= lr * v


@njit(cache=True)
def _one_plus_sq_norms(X):
    """1 + ||X[i]||^2 for every row, in float64."""
    out = np.empty(X.shape[0])
    for i in range(X.shape[0]):
        out[i] = 1.0 + kernels.sq_norm(X[i])
    return out


@njit(cache=True)
def _train_loop(p, X, Y, Xte, Yte, order, code, h, dist_loss, eval_every, dist, lr_mean, alpha_mean):
    """Train p = [W.ravel(), b] of a dense tanh layer one sample at a time; changes p.

    Fills dist (test distance at step 0 and every eval_every steps) and lr_mean,
    alpha_mean (per-block means). Returns the number of steps taken (fewer than
    len(order) if the loss became non-finite).
    """
    m = Y.shape[1]
    g = np.zeros_like(p)
    s1 = np.zeros_like(p)
    s2 = np.zeros_like(p)
    z = np.zeros(m)
    dz = np.zeros(m)
    lower = h[H_LOWER]
    lr_cur = h[H_LR]
    momentum = h[H_MOMENTUM]
    nesterov = h[H_NESTEROV] != 0.0
    count = 0
    t = 0
    lr_sum = 0.0
    alpha_sum = 0.0
    xx1 = _one_plus_sq_norms(X)
    left = eval_every
    block = 0
    dist[0] = _test_distance(p, Xte, Yte, z)
    for step in range(order.shape[0]):
        i = order[step]
        loss, dzz = _forward(p, X, Y, i, dist_loss, z, dz)
        if not math.isfinite(loss):
            return step
        if code == NAGD:
            gg = xx1[i] * dzz      # = ||g||^2 without a pass over g (kernels.sq_norm(g) up to rounding)
            lr = kernels.polyak_lr(gg, loss - lower, h[H_ALPHA], h[H_MAXLR], 0.0)
            if lr > 0.0:
                _gradient_step(p, X, i, dz, lr)
            dec = lr * gg
        else:
            _gradient(X, i, dz, g)
            if code == ADAM:
                t += 1
                lr = lr_cur
                dec = kernels.adam_step(p, g, s1, s2, t, lr, h[H_BETA1], h[H_BETA2], h[H_EPS])
            elif code == RMSPROP:
                lr = lr_cur
                dec = kernels.rmsprop_step(p, g, s1, lr, h[H_ALPHA], h[H_EPS])
            elif code == ADAGRAD:
                lr = lr_cur
                dec = kernels.adagrad_step(p, g, s1, lr, h[H_EPS])
            else:  # SGD, EXPDECAY, ALPHAMON: the lr of step t (0-based) is set before the step
                if code == EXPDECAY:
                    lr = lr_cur * math.exp(-h[H_RATE] * t)
                else:
                    lr = lr_cur
                if momentum == 0.0:
                    dec = kernels.sgd_step(p, g, lr)
                else:
                    dec = kernels.sgd_momentum_step(p, g, s1, lr, momentum, nesterov)
                t += 1
        alpha = kernels.equivalent_alpha(1.0, loss, dec, lower)
        if code == ALPHAMON:
            if alpha >= h[H_THRESH]:
                count += 1
                if count >= h[H_PATIENCE]:
                    lr_cur *= h[H_FACTOR]
                    count = 0
            else:
                count = 0
        lr_sum += lr
        alpha_sum += alpha
        left -= 1
        if left == 0:              # the end of a block (a counter: no integer division per step)
            left = eval_every
            block += 1
            dist[block] = _test_distance(p, Xte, Yte, z)
            lr_mean[block - 1] = lr_sum / eval_every
            alpha_mean[block - 1] = alpha_sum / eval_every
            lr_sum = 0.0
            alpha_sum = 0.0
    return order.shape[0]


@njit(cache=True)
def _lr_trace(p, X, Y, order, alpha, max_lr, dist_loss, lrs):
    """NaSGD(alpha) with L = 0 on the layer task, no evaluation; lrs[k] <- the lr of step k. Changes p."""
    m = Y.shape[1]
    z = np.zeros(m)
    dz = np.zeros(m)
    xx1 = _one_plus_sq_norms(X)
    for step in range(order.shape[0]):
        i = order[step]
        loss, dzz = _forward(p, X, Y, i, dist_loss, z, dz)
        lr = kernels.polyak_lr(xx1[i] * dzz, loss, alpha, max_lr, 0.0)
        if lr > 0.0:
            _gradient_step(p, X, i, dz, lr)
        lrs[step] = lr


def _loss_flag(loss):
    if loss not in ("distance", "mse"):
        raise ValueError(f"loss must be 'distance' or 'mse', got {loss!r}")
    return loss == "distance"


def _check_layer_data(params, X, y):
    d, m = X.shape[1], y.shape[1]
    if params.shape != (d * m + m,):
        raise ValueError(f"params must have shape ({d * m + m},) for a {d} -> {m} layer, got {params.shape}")


def initial_params(seed, n_in=10, n_out=4):
    """The trained layer's initial parameters for a run seed: ``[W.ravel(), b]``, float64.

    Drawn by ``Sequential([Dense(n_out, "tanh")], (n_in,), seed=numpy.random.default_rng([seed, 1]))``.

    Parameters
    ----------
    seed : int
        The run's seed.
    n_in, n_out : int, default 10 and 4
        Input and output widths of the layer.

    Returns
    -------
    ndarray of shape (n_in*n_out + n_out,), float64
    """
    model = Sequential([Dense(n_out, "tanh")], (n_in,), seed=np.random.default_rng([seed, 1]))
    return model.params.copy()


def sample_order(seed, n, epochs):
    """Indices of the samples visited, epoch after epoch: what `nagd.nn.train.minibatches` draws.

    Uses ``numpy.random.default_rng([seed, 2])``, one permutation of range(n) per epoch.

    Parameters
    ----------
    seed : int
        The run's seed.
    n : int
        Number of training samples.
    epochs : int

    Returns
    -------
    ndarray of shape (n*epochs,), int64
    """
    rng = np.random.default_rng([seed, 2])
    return np.concatenate([next(minibatches(n, n, rng=rng)) for _ in range(epochs)])


def train_compiled(params, X, y, X_test, y_test, order, optimizer, eval_every=10, loss="distance"):
    """One compiled training run of a dense tanh layer, minibatch 1.

    Parameters
    ----------
    params : ndarray of shape (d*m + m,), float32 or float64
        ``[W.ravel(), b]`` of the layer (W of shape (d, m)); updated in place.
    X : ndarray of shape (n, d), same dtype
    y : ndarray of shape (n, m), same dtype
        Training data.
    X_test, y_test : ndarray of shape (n_test, d) and (n_test, m), same dtype
        Where the mean distance is measured.
    order : ndarray of shape (n_steps,), int64
        Sample index of each step.
    optimizer : nagd.optim.Optimizer
        Only its hyperparameters are read (a fresh state is used); any of NaGD,
        SGD (+momentum, Nesterov), Adam, RMSprop, Adagrad, ExpDecaySGD, AlphaMonitoredSGD.
    eval_every : int, default 10
        Must divide n_steps.
    loss : {"distance", "mse"}, default "distance"
        Training loss of one sample: the Euclidean distance ``||pred - y||`` (the
        paper's metric) or the mean squared error over the outputs.

    Returns
    -------
    dict
        ``distance`` (n_steps/eval_every + 1,): test distance at steps 0, eval_every, ...;
        ``lr``, ``alpha`` (n_steps/eval_every,): mean learning rate and mean equivalent
        alpha of the steps of each block; ``steps``: steps taken. Fewer than n_steps
        means the loss became NaN or infinite at step ``steps`` (no step was taken with
        it); the arrays are NaN from there on and ``params`` hold the last iterate,
        which produced that loss.

    Raises
    ------
    ValueError, TypeError
        For arrays of the wrong shape or dtype, or an eval_every that does not divide n_steps.
    """
    code, h = _hyper(optimizer)
    dist_loss = _loss_flag(loss)
    arrays = [params, X, y, X_test, y_test]
    for name, arr in zip(("params", "X", "y", "X_test", "y_test"), arrays):
        if not isinstance(arr, np.ndarray) or arr.dtype not in (np.float32, np.float64) or arr.dtype != params.dtype:
            raise TypeError(f"{name} must be a numpy.ndarray of the dtype of params (float32 or float64), got "
                            f"{getattr(arr, 'dtype', type(arr))}")
    _check_layer_data(params, X, y)
    if not (params.flags.c_contiguous and params.flags.writeable):
        raise ValueError("params must be a contiguous, writeable array: it is updated in place")
    if X_test.shape[1] != X.shape[1] or y_test.shape[1] != y.shape[1]:
        raise ValueError(f"X_test, y_test must have {X.shape[1]} and {y.shape[1]} columns, got "
                         f"{X_test.shape} and {y_test.shape}")
    order = np.ascontiguousarray(order, dtype=np.int64)
    if order.size and (order.min() < 0 or order.max() >= X.shape[0]):
        raise ValueError(f"order must index the {X.shape[0]} training samples (0 to {X.shape[0] - 1}), "
                         f"got values from {order.min()} to {order.max()}")
    eval_every = int(eval_every)
    if eval_every < 1 or order.shape[0] % eval_every:
        raise ValueError(f"eval_every must be a positive divisor of the {order.shape[0]} steps, got {eval_every}")
    blocks = order.shape[0] // eval_every
    dist = np.full(blocks + 1, np.nan)
    lr, alpha = np.full(blocks, np.nan), np.full(blocks, np.nan)
    steps = _train_loop(params, *(np.ascontiguousarray(a) for a in arrays[1:]), order, code, h,
                        dist_loss, eval_every, dist, lr, alpha)
    return {"distance": dist, "lr": lr, "alpha": alpha, "steps": int(steps)}


def train_python(params, X, y, X_test, y_test, order, optimizer, eval_every=10, loss="distance"):
    """The same run as `train_compiled` through `Sequential`, `nagd.nn.losses` and ``optimizer.step``.

    The reference implementation (and the plain-NumPy speed baseline). ``optimizer``
    is used and changed (its state advances). Same parameters and result as
    `train_compiled`; the loss is never non-finite here, as the outputs are bounded.

    Parameters
    ----------
    params, X, y, X_test, y_test, order, optimizer, eval_every, loss
        As in `train_compiled`.

    Returns
    -------
    dict
        As `train_compiled` returns it.
    """
    _check_layer_data(params, X, y)
    loss_fn = mean_distance if _loss_flag(loss) else mse
    d, m = X.shape[1], y.shape[1]
    model = Sequential([Dense(m, "tanh")], (d,), dtype=params.dtype)
    model.params[:] = params
    blocks = len(order) // eval_every
    dist = np.full(blocks + 1, np.nan)
    lrs, alphas = np.zeros(len(order)), np.zeros(len(order))
    dist[0] = mean_distance(model.forward(X_test), y_test)[0]
    for step, i in enumerate(order):
        value = model.loss_and_grad(X[i:i + 1], y[i:i + 1], loss_fn)
        lrs[step] = optimizer.step(model.params, model.grads, value)
        alphas[step] = math.nan if optimizer.last_alpha is None else optimizer.last_alpha
        if (step + 1) % eval_every == 0:
            dist[(step + 1) // eval_every] = mean_distance(model.forward(X_test), y_test)[0]
    params[:] = model.params
    return {"distance": dist, "lr": lrs.reshape(blocks, eval_every).mean(axis=1),
            "alpha": alphas.reshape(blocks, eval_every).mean(axis=1), "steps": len(order)}


# ----------------------------------------------------------------------------------------------
# The exponential fit of Figure 7


def fit_exponential(lr, steps=None):
    """Least-squares fit of ``log lr = log lr0 - rate * t``.

    Parameters
    ----------
    lr : array_like of shape (n,)
        Learning rates at steps ``steps``; non-positive entries are left out.
    steps : array_like of shape (n,) or None
        Default ``0, 1, ..., n-1``.

    Returns
    -------
    lr0 : float
    rate : float
        Decay rate per step (positive for a decreasing lr).

    Raises
    ------
    ValueError
        With fewer than two positive learning rates.
    """
    lr = np.asarray(lr, dtype=np.float64)
    t = np.arange(lr.size, dtype=np.float64) if steps is None else np.asarray(steps, dtype=np.float64)
    ok = lr > 0
    if np.count_nonzero(ok) < 2:
        raise ValueError(f"lr must hold at least two positive values to fit, got {np.count_nonzero(ok)}")
    slope, intercept = np.polyfit(t[ok], np.log(lr[ok]), 1)
    return float(np.exp(intercept)), float(-slope)


@functools.lru_cache(maxsize=32)
def _mean_nagd_lr(alpha, n_steps, fit_runs, fit_seed, train_on, loss, dtype):
    """Mean over fit_runs NaSGD(alpha) runs of the per-step lr, for the first n_steps steps."""
    total = np.zeros(n_steps)
    epochs = -(-n_steps // STEPS_PER_EPOCH)
    for r in range(fit_runs):
        seed = fit_seed + r
        X, y = _train_split(make_layer_matching(seed, dtype=dtype), train_on)
        order = sample_order(seed, X.shape[0], epochs)[:n_steps]
        lrs = np.zeros(n_steps)
        _lr_trace(initial_params(seed).astype(dtype), X, y, order, float(alpha), 1.0, _loss_flag(loss), lrs)
        total += lrs
    return total / fit_runs


def fitted_schedule(fit):
    """lr0, rate of the exponential fitted as a series' ``"fit"`` entry describes (see module docstring).

    Parameters
    ----------
    fit : dict
        ``alpha``, ``steps``, ``runs``, ``seed`` and optionally ``train_on``, ``loss``, ``dtype``.

    Returns
    -------
    lr0, rate : float
        As `fit_exponential` returns them.
    """
    lr = _mean_nagd_lr(float(fit["alpha"]), int(fit["steps"]), int(fit["runs"]), int(fit["seed"]),
                       fit.get("train_on", "train"), fit.get("loss", "distance"), fit.get("dtype", "float64"))
    return fit_exponential(lr)


# ----------------------------------------------------------------------------------------------
# Configs

def _train_split(data, train_on):
    if train_on == "train":
        return data.X_train, data.y_train
    if train_on == "test":
        return data.X_test, data.y_test
    raise ValueError(f"train_on must be 'train' or 'test', got {train_on!r}")


SGD_LRS = (0.1, 0.03, 0.01, 0.003, 0.001)
MOMENTA = {"mu0": 0.0, "mu05": 0.5, "mu09": 0.9, "mu099": 0.99}
ADAPTIVE_LRS = {"adam": (1e-2, 3e-3, 1e-3, 3e-4), "rmsprop": (1e-2, 3e-3, 1e-3, 3e-4),
                "adagrad": (0.3, 0.1, 0.03, 0.01)}
ADAPTIVE_NAMES = {"adam": "Adam", "rmsprop": "RMSprop", "adagrad": "Adagrad"}
NASGD_ALPHAS = tuple(round(0.1 * k, 1) for k in range(1, 21))
FLOAT64_ALPHAS = (0.5, 1.0, 1.5)
FIT_WINDOWS = {"decay028": 1500, "decay052": 600, "decay090": 200}


def _series(label, optimizer, **params):
    return {"label": label, "optimizer": optimizer, "params": params}


def _config(series, dtype="float32"):
    return {"task": "layer_matching", "runs": 50, "epochs": 45, "eval_every": 20, "train_on": "train",
            "loss": "distance", "dtype": dtype, "series": series}


def _fit(steps):
    return {"alpha": 0.7, "steps": steps, "runs": 50, "seed": 1_000_000, "train_on": "train",
            "loss": "distance", "dtype": "float32"}


def _all_configs():
    out = {}
    for key, mu in MOMENTA.items():
        out[f"fig4_{key}"] = _config([_series(f"lr={lr:g}", "sgd", lr=lr, momentum=mu) for lr in SGD_LRS])
    out["fig5_baselines"] = _config([_series(f"{ADAPTIVE_NAMES[name]} lr={lr:g}", name, lr=lr)
                                     for name, lrs in ADAPTIVE_LRS.items() for lr in lrs])
    out["fig5_nasgd"] = _config([_series(f"alpha={a:.1f}", "nagd", alpha=a) for a in NASGD_ALPHAS])
    out["fig5_nasgd_float64"] = _config([_series(f"alpha={a:.1f}", "nagd", alpha=a) for a in FLOAT64_ALPHAS],
                                        dtype="float64")
    out["fig7"] = _config([
        _series("gna070", "nagd", alpha=0.7),
        _series("alpha100", "alpha_monitored", lr=0.1, threshold=2.0, patience=3, factor=1.0 / 3.0),
    ] + [dict(_series(name, "expdecay"), fit=_fit(steps)) for name, steps in FIT_WINDOWS.items()])
    return out


CONFIGS = _all_configs()


def _quick(config):
    q = dict(config, runs=3, epochs=5, eval_every=20)
    q["series"] = [dict(s, fit=dict(s["fit"], runs=4)) if "fit" in s else s for s in config["series"]]
    return q


QUICK = {name: _quick(c) for name, c in CONFIGS.items()}

TARGETS = {
    "fig4": [f"fig4_{k}" for k in MOMENTA],
    "fig5": ["fig5_baselines", "fig5_nasgd", "fig5_nasgd_float64"],
    "fig6": ["fig4_mu0", "fig5_nasgd"],
    "fig7": ["fig7"],
}
TARGETS["layer"] = list(dict.fromkeys(n for t in ("fig4", "fig5", "fig6", "fig7") for n in TARGETS[t]))


# ----------------------------------------------------------------------------------------------
# One run


def _json_floats(a, digits=7):
    """A list of floats rounded to `digits` significant digits; NaN/inf become None (JSON).

    Vectorized: ``rint(v * 10**s) / 10**s`` is the double nearest to the rounded decimal
    (10**s is exact up to s = 22, i.e. for |v| >= 1e-16 at 6 digits), so the JSON text is short.
    """
    a = np.asarray(a, dtype=np.float64)
    ok = np.isfinite(a) & (a != 0.0)
    out = np.where(np.isfinite(a), a, 0.0)
    s = (digits - 1) - np.floor(np.log10(np.abs(a[ok])))
    up, down = 10.0 ** np.maximum(s, 0.0), 10.0 ** np.maximum(-s, 0.0)    # both exact powers of ten
    out[ok] = np.rint(a[ok] * up / down) / up * down
    values = out.tolist()
    if not np.isfinite(a).all():
        values = [v if f else None for v, f in zip(values, np.isfinite(a).tolist())]
    return values


def run(config, seed):
    """Train every series of ``config`` once on the data, initial layer and sample order of ``seed``.

    Parameters
    ----------
    config : dict
        One of `CONFIGS` / `QUICK`: ``epochs``, ``eval_every``, ``train_on`` and a
        list of ``series`` (``label``, ``optimizer``, ``params`` and, for the
        fitted exponential schedules, ``fit``).
    seed : int

    Returns
    -------
    dict
        ``steps`` (the steps where the distance is measured) and, per series label,
        ``distance``, ``lr``, ``alpha`` (per-block means, see `train_compiled`),
        ``steps_taken`` and, for fitted schedules, ``lr0`` and ``rate``.
    """
    epochs, eval_every = int(config["epochs"]), int(config["eval_every"])
    dtype, loss = config.get("dtype", "float64"), config.get("loss", "distance")
    data = make_layer_matching(seed, dtype=dtype)
    X, y = _train_split(data, config.get("train_on", "train"))
    order = sample_order(seed, X.shape[0], epochs)
    p0 = initial_params(seed, X.shape[1], y.shape[1]).astype(dtype)
    out = {"steps": list(range(0, len(order) + 1, eval_every)), "series": {}}
    for s in config["series"]:
        params = dict(s.get("params", {}))
        extra = {}
        if "fit" in s:
            lr0, rate = fitted_schedule(s["fit"])
            params.update(lr0=lr0, rate=max(rate, 0.0))
            extra = {"lr0": lr0, "rate": rate}
        res = train_compiled(p0.copy(), X, y, data.X_test, data.y_test, order, _optimizer(s["optimizer"], params),
                             eval_every, loss)
        out["series"][s["label"]] = {"distance": _json_floats(res["distance"], 5),
                                     "lr": _json_floats(res["lr"], 4), "alpha": _json_floats(res["alpha"], 4),
                                     "steps_taken": res["steps"], **extra}
    return out


# ----------------------------------------------------------------------------------------------
# Report


def _curves(results, label, key):
    """(n_runs, n_points) float array of one series' curve over the runs (None -> NaN)."""
    return np.array([r["series"][label][key] for r in results], dtype=float)


def _mean(results, label, key):
    c = _curves(results, label, key)
    return np.nanmean(c, axis=0) if np.isfinite(c).any() else np.full(c.shape[1], np.nan)


def _log_mean_distance(results, label):
    """log10 of the mean (over runs) test distance at each recorded step."""
    with np.errstate(divide="ignore"):
        return np.log10(_mean(results, label, "distance"))


def _labels(results):
    return list(results[0]["series"]) if results else []


def _steps(results):
    return np.asarray(results[0]["steps"])


def _final(results, label):
    return float(_log_mean_distance(results, label)[-1])


def _at_step(results, label, step):
    """log10 mean distance at the recorded step closest to `step` (not beyond the end)."""
    steps = _steps(results)
    k = int(np.argmin(np.abs(steps - min(step, steps[-1]))))
    return float(_log_mean_distance(results, label)[k])


def _figure(ncols, nrows=1, width=4.2, height=3.4):
    from matplotlib.figure import Figure   # no pyplot: no global state, no backend needed
    fig = Figure(figsize=(width * ncols, height * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    fig.subplots_adjust(left=0.85 / (width * ncols), right=1 - 0.15 / (width * ncols), bottom=0.15, top=0.9,
                        wspace=0.38)
    return fig, axes.ravel()


def _plot_distance(ax, results, labels, title, cmap="viridis", max_step=None):
    from matplotlib import colormaps
    steps = _steps(results)
    keep = steps <= (max_step if max_step is not None else steps[-1])
    colors = colormaps[cmap](np.linspace(0.0, 0.9, max(len(labels), 1)))
    for color, label in zip(colors, labels):
        ax.plot(steps[keep], _log_mean_distance(results, label)[keep], color=color, lw=1.2, label=label)
    ax.set_title(title)
    ax.set_xlabel("training step")
    ax.set_ylabel("log10 mean test distance")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _block_steps(results):
    """Step at the end of each lr/alpha block."""
    return _steps(results)[1:]


def _fig4(runs, out_dir):
    names = [n for n in TARGETS["fig4"] if n in runs]
    if not names:
        return None
    fig, axes = _figure(len(names))
    for ax, name in zip(axes, names):
        mu = MOMENTA[name.split("_", 1)[1]]
        _plot_distance(ax, runs[name], _labels(runs[name]), f"SGD, momentum mu = {mu:g}")
    fig.savefig(os.path.join(out_dir, "fig4.png"), dpi=110)
    return "fig4.png"


def _fig5(runs, out_dir):
    panels = []
    if "fig5_baselines" in runs:
        res = runs["fig5_baselines"]
        for name in ADAPTIVE_NAMES.values():
            labels = [lab for lab in _labels(res) if lab.startswith(name + " ")]
            panels.append((res, labels, name, "viridis"))
    if "fig5_nasgd" in runs:
        res = runs["fig5_nasgd"]
        panels.append((res, _labels(res), "NaSGD (float32)", "turbo"))
    if not panels:
        return None
    fig, axes = _figure(len(panels))
    for ax, (res, labels, title, cmap) in zip(axes, panels):
        _plot_distance(ax, res, labels, title, cmap)
        if len(labels) > 10:
            if "fig5_nasgd_float64" in runs:      # where float32 stops: the same alphas in float64
                res64 = runs["fig5_nasgd_float64"]
                for lab in _labels(res64):
                    ax.plot(_steps(res64), _log_mean_distance(res64, lab), "k--", lw=0.8)
                ax.set_title("NaSGD (dashed: alpha = 0.5, 1.0, 1.5 in float64)", fontsize=9)
            ax.legend(fontsize=5, ncol=2)
    fig.savefig(os.path.join(out_dir, "fig5.png"), dpi=110)
    return "fig5.png"


def _fig6(runs, out_dir):
    if "fig5_nasgd" not in runs or "fig4_mu0" not in runs:
        return None
    from matplotlib import colormaps
    nasgd, sgd = runs["fig5_nasgd"], runs["fig4_mu0"]
    fig, axes = _figure(3)
    bsteps = _block_steps(nasgd)
    labels = [lab for lab in _labels(nasgd) if float(lab.split("=")[1]) in (0.1, 0.3, 0.5, 0.7, 1.0, 1.5, 1.8)]
    colors = colormaps["turbo"](np.linspace(0.0, 0.9, len(labels)))
    for color, label in zip(colors, labels):
        axes[0].semilogy(bsteps, _mean(nasgd, label, "lr"), color=color, lw=1, label=label)
    axes[0].set_title("NaSGD: mean equivalent lr")
    sgd_labels = _labels(sgd)
    colors = colormaps["viridis"](np.linspace(0.0, 0.9, len(sgd_labels)))
    bsteps = _block_steps(sgd)
    for color, label in zip(colors, sgd_labels):
        axes[1].plot(bsteps, _mean(sgd, label, "alpha"), color=color, lw=1, label=label)
    axes[1].axhline(2.0, color="k", ls="--", lw=0.8)
    axes[1].set_title("SGD: mean equivalent alpha")
    steps = _steps(sgd)
    for color, label in zip(colors, sgd_labels):
        logd = _log_mean_distance(sgd, label)
        alpha = _mean(sgd, label, "alpha")
        high = np.concatenate([[False], alpha > 2.0])    # the block that ends at each step
        axes[2].scatter(steps[~high], logd[~high], s=3, color=color, label=label)
        axes[2].scatter(steps[high], logd[high], s=3, color=color, alpha=0.08)
    axes[2].set_title("SGD: faded where equivalent alpha > 2")
    axes[2].set_ylabel("log10 mean test distance")
    for ax in axes:
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.savefig(os.path.join(out_dir, "fig6.png"), dpi=110)
    return "fig6.png"


def _fig7(runs, out_dir, max_step=1500):
    if "fig7" not in runs:
        return None
    res = runs["fig7"]
    fig, axes = _figure(2)
    _plot_distance(axes[0], res, _labels(res), "first 1500 steps", "tab10", max_step=max_step)
    bsteps = _block_steps(res)
    keep = bsteps <= max_step
    for label in _labels(res):
        axes[1].semilogy(bsteps[keep], _mean(res, label, "lr")[keep], lw=1, label=label)
    axes[1].set_title("mean (equivalent) learning rate")
    axes[1].set_xlabel("training step")
    axes[1].grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.savefig(os.path.join(out_dir, "fig7.png"), dpi=110)
    return "fig7.png"


def _progress_by_alpha(results, label):
    """Mean change of log10 distance per block in blocks with equivalent alpha <= 2 and > 2."""
    logd = _log_mean_distance(results, label)
    alpha = _mean(results, label, "alpha")
    change = np.diff(logd)
    low, high = alpha <= 2.0, alpha > 2.0
    return (float(change[low].mean()) if low.any() else math.nan,
            float(change[high].mean()) if high.any() else math.nan, int(high.sum()), len(alpha))


def _claims(runs):
    """Rows (claim, paper, measured, verdict) for the statements of section 3 we can check."""
    C = PUBLISHED["claims"]
    rows = []
    baselines = [(name, lab) for name in TARGETS["fig4"] + ["fig5_baselines"] if name in runs
                 for lab in _labels(runs[name])]
    nasgd = runs.get("fig5_nasgd")
    alpha_of = {lab: float(lab.split("=")[1]) for lab in _labels(nasgd)} if nasgd else {}
    if baselines:
        finals = {f"{n}/{lab}": _final(runs[n], lab) for n, lab in baselines}
        lows = {f"{n}/{lab}": float(np.nanmin(_log_mean_distance(runs[n], lab))) for n, lab in baselines}
        best = min(lows, key=lows.get)
        rows.append([C["baselines_floor"]["text"], "all baselines >= 1e-3",
                     f"lowest mean distance of {len(baselines)} baseline series: 10^{lows[best]:.2f} ({best}); "
                     f"final values 10^{min(finals.values()):.2f} .. 10^{max(finals.values()):.2f}",
                     "holds" if lows[best] >= -3.0 else "does not hold"])
    if nasgd:
        good = [lab for lab, a in alpha_of.items() if 0.5 <= a <= 1.5]
        finals = {lab: _final(nasgd, lab) for lab in good}
        last10 = {lab: _final(nasgd, lab) - _at_step(nasgd, lab, _steps(nasgd)[-1] - 1000) for lab in good}
        settled = [lab for lab in good if abs(last10[lab]) < 0.3]
        near = [lab for lab in settled if -8.0 <= finals[lab] <= -6.0]
        f64 = ""
        if "fig5_nasgd_float64" in runs:
            res64 = runs["fig5_nasgd_float64"]
            f64 = "; in float64 (no 1e-7 floor): " + ", ".join(f"{lab}: 10^{_final(res64, lab):.2f}"
                                                             for lab in _labels(res64))
        rows.append([C["nasgd_good"]["text"], "below 1e-3; settles near 1e-7",
                     f"final 10^{min(finals.values()):.2f} .. 10^{max(finals.values()):.2f}; settled (last 10 epochs "
                     f"within 0.3 decades) near 1e-7 (1e-8..1e-6): {', '.join(near) or 'none'}{f64}",
                     "holds" if max(finals.values()) < -3.0 and near else "partly"])
        small = [lab for lab, a in alpha_of.items() if 0.1 <= a <= 0.3]
        if baselines:
            best_final = min(finals_b := {f"{n}/{lab}": _final(runs[n], lab) for n, lab in baselines}.values())
            worst_final = max(finals_b)
            vals = {lab: _final(nasgd, lab) for lab in small}
            within = [lab for lab, v in vals.items() if best_final - 1.0 <= v <= worst_final]
            rows.append([C["nasgd_small"]["text"], "comparable to the baselines",
                         "final " + ", ".join(f"{lab}: 10^{v:.2f}" for lab, v in vals.items())
                         + f" vs baselines 10^{best_final:.2f} .. 10^{worst_final:.2f}",
                         "holds" if len(within) == len(vals) else f"partly (within a decade of the best "
                                                                   f"baseline: {', '.join(within) or 'none'})"])
        large = [lab for lab, a in alpha_of.items() if a >= C["nasgd_large"]["alpha_min"] - 1e-9]
        gains = {lab: _log_mean_distance(nasgd, lab)[0] - _final(nasgd, lab) for lab in large}
        rows.append([C["nasgd_large"]["text"], "no progress",
                     "decades gained: " + ", ".join(f"{lab}: {v:.2f}" for lab, v in gains.items()),
                     "holds" if all(v < 0.5 for v in gains.values()) else "does not hold"])
        lab = "alpha=0.7" if "alpha=0.7" in alpha_of else next(iter(alpha_of))
        lr = _mean(nasgd, lab, "lr")
        rows.append([C["nasgd_equivalent_lr"]["text"], "1 -> 1e-8",
                     f"{lab}: first block {lr[0]:.2g}, max {np.nanmax(lr):.2g}, last block {lr[-1]:.2g}",
                     "holds" if lr[-1] < 1e-6 * np.nanmax(lr) else "does not hold"])
    if "fig4_mu0" in runs:
        sgd = runs["fig4_mu0"]
        last = {lab: float(np.nanmean(_mean(sgd, lab, "alpha")[-45:])) for lab in _labels(sgd)}
        rows.append([C["sgd_equivalent_alpha"]["text"], "settles above 2",
                     "mean over the last 10 % of steps: " + ", ".join(f"{k}: {v:.2f}" for k, v in last.items()),
                     "holds" if all(v > 2.0 for v in last.values()) else
                     f"holds for {sum(v > 2.0 for v in last.values())} of {len(last)} lrs"])
        prog = {lab: _progress_by_alpha(sgd, lab) for lab in _labels(sgd)}
        low = np.nanmean([p[0] for p in prog.values()])
        high = np.nanmean([p[1] for p in prog.values()])
        rows.append([C["sgd_progress_rule"]["text"], "progress iff alpha < 2",
                     f"mean change of log10 distance per block: {low:+.4f} (alpha <= 2), {high:+.4f} (alpha > 2)",
                     "holds" if low < 0 and abs(high) < 0.25 * abs(low) else "does not hold"])
    if "fig7" in runs:
        res = runs["fig7"]
        at = {lab: _at_step(res, lab, 1500) for lab in _labels(res)}
        decays = [lab for lab in FIT_WINDOWS if lab in at]
        rows.append([C["decay_schedules"]["text"], "worse than gna070",
                     "at step 1500: " + ", ".join(f"{lab}: 10^{at[lab]:.2f}" for lab in at),
                     "holds" if all(at[d] > at["gna070"] + 0.5 for d in decays) else "does not hold"])
        base_1500 = [_at_step(runs[n], lab, 1500) for n, lab in baselines] if baselines else []
        best_base = min(base_1500) if base_1500 else math.nan
        rows.append([C["alpha100"]["text"], "about 1e-3 at step 1500, better than the baselines",
                     f"alpha100 at step 1500: 10^{at['alpha100']:.2f}, final 10^{_final(res, 'alpha100'):.2f}; "
                     f"best baseline at step 1500: 10^{best_base:.2f}",
                     "holds" if at["alpha100"] <= -2.5 and not at["alpha100"] > best_base else "does not hold"])
    return rows


def _fit_rows(runs):
    if "fig7" not in runs:
        return []
    res = runs["fig7"]
    rows = []
    for name, steps in FIT_WINDOWS.items():
        if name not in res[0]["series"]:
            continue
        s = res[0]["series"][name]
        paper = int(name[-3:]) / 100
        rows.append([name, steps, paper, s["lr0"], s["rate"], 100 * s["rate"], math.exp(-100 * s["rate"])])
    return rows


def report(runs, out_dir):
    """Write Figures 4-7, the final-distance table, the claims table and the decay fits into out_dir.

    Parameters
    ----------
    runs : dict
        ``{config_name: [result, ...]}`` of stored runs (any subset of `CONFIGS`).
    out_dir : str
        Folder for ``fig4.png`` .. ``fig7.png``, ``final_distance.csv``,
        ``claims.md`` and ``decay_fits.csv``.

    Returns
    -------
    str
        The section's Markdown.
    """
    from .report import link, markdown_table, write_csv
    os.makedirs(out_dir, exist_ok=True)
    parts = ["Task: recover a random dense tanh layer R^10 -> R^4 from 100 samples, minibatch 1, "
             "loss = Euclidean distance of one sample, metric = mean test distance, averaged over the runs. "
             "We train on the training half (the paper's text says \"on the test set\"; see "
             "`nagd/experiments/layer_matching.py`). Parameters in float32, as in the paper's frameworks, "
             "except where noted.\n"]
    figures = [("Figure 4: SGD with momentum", _fig4(runs, out_dir)),
               ("Figure 5: Adam, RMSprop, Adagrad and NaSGD", _fig5(runs, out_dir)),
               ("Figure 6: Rosetta stone", _fig6(runs, out_dir)),
               ("Figure 7: exponential decay vs alpha monitoring (first 1500 steps)", _fig7(runs, out_dir))]
    for title, fname in figures:
        if fname:
            parts.append(f"\n![{title}]({link(out_dir, fname)})\n")

    claims = _claims(runs)
    if claims:
        header = ["paper's statement", "paper", "measured", "verdict"]
        table = markdown_table(header, claims)
        with open(os.path.join(out_dir, "claims.md"), "w") as fh:
            fh.write(table)
        parts.append("\n### The paper's statements beside our measurements\n\n" + table)

    fits = _fit_rows(runs)
    if fits:
        header = ["series", "fit window (steps)", "paper's name / 100", "lr0", "rate per step",
                  "rate per epoch", "factor per epoch"]
        write_csv(os.path.join(out_dir, "decay_fits.csv"), header, fits)
        parts.append("\n### Exponential fits to NaSGD(0.7)'s mean equivalent lr (Figure 7)\n\n"
                     "Least squares on log lr; we read the paper's names as the decay rate per epoch "
                     "(lr = lr0 exp(-rate * epoch)).\n\n" + markdown_table(header, fits))

    rows = []
    for name in CONFIGS:
        if name not in runs:
            continue
        res = runs[name]
        dtype = CONFIGS[name].get("dtype", "float64")
        for lab in _labels(res):
            rows.append([name, lab, dtype, len(res), _at_step(res, lab, 1500), _final(res, lab),
                         float(np.nanmin(_log_mean_distance(res, lab)))])
    if rows:
        header = ["config", "series", "dtype", "runs", "log10 dist @1500", "log10 dist final", "log10 dist best"]
        write_csv(os.path.join(out_dir, "final_distance.csv"), header, rows)
        parts.append("\n### log10 of the mean test distance\n\n" + markdown_table(header, rows))
    return "".join(parts)
