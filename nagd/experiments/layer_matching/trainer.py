"""The compiled training run of a dense tanh layer (minibatch 1) and its reference through `nagd.nn`."""
import math
from typing import NamedTuple

import numpy as np
from numba import njit

from ... import kernels, optim
from ...nn import Dense, Sequential, mean_distance, mse

__all__ = ["train_compiled", "train_python"]

# the step kernels the compiled loop can take
POLYAK, SGD, ADAM, RMSPROP, ADAGRAD = range(5)


class _Rule(NamedTuple):
    """One optimizer's step for the compiled loop: its kernel and the constants the kernel takes."""

    kernel: int
    lower_bound: float
    alpha: float = 1.0          # NaGD
    max_lr: float = math.inf    # NaGD
    momentum: float = 0.0       # SGD
    nesterov: bool = False      # SGD
    beta1: float = 0.9          # Adam
    beta2: float = 0.999        # Adam
    smoothing: float = 0.99     # RMSprop (its alpha)
    eps: float = 1e-8           # Adam, RMSprop, Adagrad


class _Monitor(NamedTuple):
    """AlphaMonitoredSGD's feedback rule (`kernels.alpha_monitored_lr`); patience 0 for none."""

    threshold: float = math.inf
    patience: int = 0
    factor: float = 1.0


def _compiled_form(optimizer, n_steps):
    """(rule, lrs, monitor) of an optimizer for `_train_loop`, from its public hyperparameters.

    The schedule comes from the optimizer itself (``lr_schedule``), the feedback rules are
    the kernels its own ``step`` calls. Only these classes are accepted, by exact type: a
    subclass could change the update, which the compiled loop would not follow.
    """
    cls = type(optimizer)
    none = np.zeros(0)
    if cls is optim.NaGD:
        if not isinstance(optimizer.lower_bound, float):
            raise TypeError("the compiled loop needs NaGD with a numeric lower_bound, not 'auto'")
        return _Rule(POLYAK, optimizer.lower_bound, alpha=optimizer.alpha, max_lr=optimizer.max_lr), none, _Monitor()
    if cls in (optim.SGD, optim.ExpDecaySGD, optim.AlphaMonitoredSGD):
        rule = _Rule(SGD, optimizer.lower_bound, momentum=optimizer.momentum, nesterov=optimizer.nesterov)
        monitor = _Monitor()
        if cls is optim.AlphaMonitoredSGD:
            monitor = _Monitor(optimizer.threshold, optimizer.patience, optimizer.factor)
        return rule, optimizer.lr_schedule(n_steps), monitor
    if cls is optim.Adam:
        rule = _Rule(ADAM, optimizer.lower_bound, beta1=optimizer.beta1, beta2=optimizer.beta2, eps=optimizer.eps)
    elif cls is optim.RMSprop:
        rule = _Rule(RMSPROP, optimizer.lower_bound, smoothing=optimizer.alpha, eps=optimizer.eps)
    elif cls is optim.Adagrad:
        rule = _Rule(ADAGRAD, optimizer.lower_bound, eps=optimizer.eps)
    else:
        names = "NaGD, SGD, ExpDecaySGD, AlphaMonitoredSGD, Adam, RMSprop, Adagrad"
        raise TypeError(f"optimizer must be one of {names}, got {cls.__name__}")
    return rule, optimizer.lr_schedule(n_steps), _Monitor()


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
def _write_gradient(X, i, dz, g):
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
    """p <- p - lr*g for g = `_write_gradient` (X, i, dz), without writing g.

    Each g entry is rounded to the dtype of p first, as a stored gradient would be, so
    this equals ``_write_gradient(X, i, dz, g); kernels.axpy(p, g, lr)`` exactly.
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
def _train_loop(p, X, Y, Xte, Yte, order, rule, lrs, monitor, dist_loss, eval_every, dist, lr_mean, alpha_mean):
    """Train p = [W.ravel(), b] of a dense tanh layer one sample at a time; changes p.

    ``rule`` (a `_Rule`) names the step kernel and its constants; ``lrs[k]`` is the
    learning rate of step k as scheduled (unused by the Polyak step, whose lr comes from
    `kernels.polyak_lr`); ``monitor`` (a `_Monitor`, patience 0 for none) applies
    `kernels.alpha_monitored_lr` after each step, from ``lrs[0]`` on. Fills dist (test
    distance at step 0 and every eval_every steps) and lr_mean, alpha_mean (per-block
    means). Returns the number of steps taken (fewer than len(order) if the loss became
    non-finite).
    """
    m = Y.shape[1]
    g = np.zeros_like(p)
    s1 = np.zeros_like(p)
    s2 = np.zeros_like(p)
    z = np.zeros(m)
    dz = np.zeros(m)
    monitored = monitor.patience > 0
    lr_cur = lrs[0] if lrs.shape[0] > 0 else 0.0
    run = 0
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
        if rule.kernel == POLYAK:
            gg = xx1[i] * dzz      # = ||g||^2 without a pass over g (kernels.sq_norm(g) up to rounding)
            lr = kernels.polyak_lr(gg, loss - rule.lower_bound, rule.alpha, rule.max_lr, 0.0)
            if lr > 0.0:
                _gradient_step(p, X, i, dz, lr)
            decrease = lr * gg
        else:
            lr = lr_cur if monitored else lrs[step]
            _write_gradient(X, i, dz, g)
            if rule.kernel == ADAM:
                decrease = kernels.adam_step(p, g, s1, s2, step + 1, lr, rule.beta1, rule.beta2, rule.eps)
            elif rule.kernel == RMSPROP:
                decrease = kernels.rmsprop_step(p, g, s1, lr, rule.smoothing, rule.eps)
            elif rule.kernel == ADAGRAD:
                decrease = kernels.adagrad_step(p, g, s1, lr, rule.eps)
            elif rule.momentum == 0.0:
                decrease = kernels.sgd_step(p, g, lr)
            else:
                decrease = kernels.sgd_momentum_step(p, g, s1, lr, rule.momentum, rule.nesterov)
        alpha = kernels.equivalent_alpha(1.0, loss, decrease, rule.lower_bound)
        if monitored:
            lr_cur, run = kernels.alpha_monitored_lr(lr_cur, alpha, monitor.threshold, monitor.patience,
                                                     monitor.factor, run)
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
    rule, lrs, monitor = _compiled_form(optimizer, order.shape[0])
    steps = _train_loop(params, *(np.ascontiguousarray(a) for a in arrays[1:]), order, rule, lrs, monitor,
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
