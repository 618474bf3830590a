"""Numba step kernels on flat arrays.

Three kinds of functions, each compiled once per dtype of its arrays:

* step kernels (``subtract_scaled``, ``sgd_step``, ``adam_step``, ...) update
  their contiguous 1-D float32 or float64 array arguments in place (the
  parameters and the state: momentum, moments); the docstring of each names
  what it changes;
* reductions (``sq_norm``, ``dot``) only read their arrays;
* scalar functions (``polyak_lr``, ``equivalent_alpha``, ``exp_decay_lr``, ...)
  take and return numbers.

Reductions (squared norms, dot products) are accumulated in float64 whatever
the dtype of the arrays. ``sq_norm`` uses 64 interleaved partial sums, so that
a long sum is limited by memory bandwidth rather than by the latency of one
floating-point add (LLVM vectorizes it without fast-math and, the partial sums
being an array on the stack, keeps them in registers); its order of summation
depends only on the length of the array, so results are deterministic,
compiled or not.

dtype behaviour: every element update is computed in float64 from inputs
widened with ``np.float64(...)`` (Numba's ``float()`` keeps a float32 a
float32, and under ``NUMBA_DISABLE_JIT`` NumPy would compute in float32) and
rounded once to the array's dtype when stored. State arrays (momentum,
moments) are stored in the parameters' dtype; the unrounded float64 value is
used for the rest of the same step.

The baseline kernels (SGD, Adam, RMSprop, Adagrad) return the first-order
predicted decrease of their step, ``g . (x_old - x_new)``, computed in the
same pass over the arrays. Divided by ``f - L`` it is the step's *equivalent
alpha*; divided by ``||g||^2`` its *equivalent learning rate*.

Conventions follow PyTorch's ``torch.optim`` (without weight decay):

* SGD momentum: ``b <- mu*b + g``; classical ``x <- x - lr*b``, Nesterov
  ``x <- x - lr*(g + mu*b)``; the buffer starts at zero, which equals
  PyTorch's ``b_1 = g_1`` (no dampening).
* Adam: bias-corrected moments, ``x <- x - lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``.
* RMSprop: ``v <- a*v + (1-a)*g^2``, ``x <- x - lr*g/(sqrt(v) + eps)``.
* Adagrad: ``s <- s + g^2``, ``x <- x - lr*g/(sqrt(s) + eps)``.

The Polyak step size is written once, in `polyak_lr`, with one edge-case policy
(see its docstring); every caller (the optimizer classes, ``nagd.minimize``'s
compiled loop, the experiments' compiled loops) calls it.

Every kernel is declared with `_jit`: ``njit(cache=True)``, plus
``inline="always"`` for the small helpers the compiled loops call (Numba then
inlines their IR at the call site instead of emitting a call, which for a 2-D
problem would cost about as much as the rest of an iteration).

Several arrays as one vector: the kernels whose names end in ``_from`` continue
a sum from a running value, so that calling them on the arrays of a list in
turn adds in exactly the order of one call on their concatenation (the
optimizers of `nagd.optim` use them for lists and dicts of arrays, without
building the concatenation). ``sgd_step`` and the other baseline steps are
their ``_from`` kernel started at zero, inlined (``inline="always"``): a
compiled loop that calls ``sgd_momentum_step`` makes one call, not a call that
makes another (which cost the layer-matching loop 0.02-0.03 us a step, 15-20%);
``sq_norm`` and ``dot`` have their own continuing forms, `sq_norm_lanes_from`
and `dot_from`.

All kernels also run as plain Python under ``NUMBA_DISABLE_JIT=1``.
"""
import math

import numpy as np
from llvmlite import ir
from numba import config, njit, types
from numba.core import cgutils
from numba.extending import intrinsic


def _jit(func=None, *, inline=False):
    """Compile func with ``njit(cache=True)``; ``inline=True`` adds ``inline="always"``.

    Usable bare (``@_jit``) or with options (``@_jit(inline=True)``).
    """
    options = {"cache": True}
    if inline:
        options["inline"] = "always"
    if func is None:
        return njit(**options)
    return njit(**options)(func)


# _local_zeros(size): a float64 array of size zeros, size a constant, for the lanes of a sum.
# Compiled, the array lives on the stack of the function that calls it (no heap allocation, no
# reference count), so LLVM knows that no other array can alias it and keeps its elements in
# registers across a loop, as vectors where it vectorizes the loop. With a heap array (np.zeros),
# LLVM must allow for the input aliasing the lanes, and it loaded and stored every lane on every
# pass. The array must not outlive the function that calls _local_zeros (not returned, not stored
# in another object). Under NUMBA_DISABLE_JIT it is np.zeros.
if config.DISABLE_JIT:
    def _local_zeros(size):
        return np.zeros(size)
else:
    @intrinsic
    def _local_zeros(typingctx, size):
        if not isinstance(size, types.IntegerLiteral):
            return None                             # Numba then reports that size must be a constant
        count = size.literal_value
        array_type = types.Array(types.float64, 1, "C")

        def codegen(context, builder, signature, args):
            buffer_type = ir.ArrayType(ir.DoubleType(), count)
            buffer = cgutils.alloca_once(builder, buffer_type)        # in the entry block: once per call
            builder.store(ir.Constant(buffer_type, [0.0] * count), buffer)
            intp = context.get_value_type(types.intp)
            array = context.make_array(array_type)(context, builder)
            context.populate_array(array, data=builder.bitcast(buffer, ir.DoubleType().as_pointer()),
                                   shape=[ir.Constant(intp, count)], strides=[ir.Constant(intp, 8)],
                                   itemsize=ir.Constant(intp, 8), meminfo=None)
            return array._getvalue()

        return array_type(size), codegen


@_jit
def _sq_norm_lanes(g):
    """sum(g**2) for len(g) >= 64 with 64 partial sums over two streams.

    With half = 32*(n//64): lane j < 32 sums g[j:half:32], lane 32 + j sums
    g[half + j:2*half:32]; the lanes are added pairwise (j + 32, then j + 16, ...), then the
    n - 2*half others in order.
    Reading two places at once keeps more memory requests in flight than one stream.
    """
    n = g.shape[0]
    half = (n // 64) * 32
    a = g[:half]                      # two views indexed from 0: LLVM then loads both streams as vectors
    b = g[half:2 * half]              # (g[half + i + j] compiled to gathers: 2.5 cycles per element)
    acc = _local_zeros(64)            # on the stack: LLVM keeps the lanes in registers (8 AVX-512 vectors)
    for i in range(0, half, 32):
        for j in range(32):
            v = np.float64(a[i + j])
            acc[j] += v * v
            u = np.float64(b[i + j])
            acc[32 + j] += u * u
    w = 64
    while w > 1:
        w //= 2
        for j in range(w):
            acc[j] += acc[j + w]
    total = acc[0]
    for i in range(2 * half, n):
        v = np.float64(g[i])
        total += v * v
    return total


@_jit(inline=True)
def sq_norm(g):
    """Return sum(g**2) in float64: in order below 64 entries, else with 64 interleaved partial sums.

    The order of summation depends only on len(g). The lane loop is a separate
    function because LLVM vectorizes it only there (without fast-math).
    """
    n = g.shape[0]
    if n >= 64:
        return _sq_norm_lanes(g)
    total = 0.0
    for i in range(n):
        v = np.float64(g[i])
        total += v * v
    return total


@_jit
def sq_sum_from(g, total):
    """Return total + sum(g**2), adding in order in float64.

    `sq_norm` sums this way below 64 entries, and so adds the entries after its lanes.
    """
    for i in range(g.shape[0]):
        v = np.float64(g[i])
        total += v * v
    return total


@_jit
def sq_norm_lanes_from(g, start, half, acc):
    """Add to the 64 lanes acc the squares of g, the part from index start of a vector of length n >= 64.

    half is ``32*(n//64)``. The entries below index 2*half go to the lanes of `sq_norm` (lane
    i % 32 below half, 32 + i % 32 from half), each lane in index order; changes acc. Once every
    part is added, `sq_norm_lanes_total` gives sq_norm's sum of the lanes, and `sq_sum_from`
    adds the entries from 2*half in order: the bits of sq_norm on the concatenation.
    """
    n = g.shape[0]
    lo, hi = min(start, half), min(start + n, half)           # indices [lo, hi) go to lanes 0-31
    if lo < hi:
        _lanes_add(g[lo - start:hi - start], lo % 32, acc[:32])
    lo, hi = max(start, half), min(start + n, 2 * half)       # indices [lo, hi) go to lanes 32-63
    if lo < hi:
        _lanes_add(g[lo - start:hi - start], lo % 32, acc[32:])


@_jit(inline=True)
def _lanes_add(h, phase, acc):
    """acc[(phase + i) % 32] += h[i]**2 for each i in order, acc being 32 lanes; changes acc."""
    lanes = _local_zeros(32)      # on the stack: LLVM vectorizes the loop below and keeps the lanes in registers
    for j in range(32):
        lanes[j] = acc[j]
    n = h.shape[0]
    head = min((32 - phase) % 32, n)
    for i in range(head):
        v = np.float64(h[i])
        lanes[phase + i] += v * v
    body = h[head:]
    m = (body.shape[0] // 64) * 64
    for i in range(0, m, 64):                 # two blocks a pass: LLVM vectorizes this form
        for j in range(32):
            u = np.float64(body[i + j])
            v = np.float64(body[i + 32 + j])
            lanes[j] += u * u
            lanes[j] += v * v
    if body.shape[0] - m >= 32:
        for j in range(32):
            v = np.float64(body[m + j])
            lanes[j] += v * v
        m += 32
    for i in range(m, body.shape[0]):
        v = np.float64(body[i])
        lanes[i - m] += v * v
    for j in range(32):
        acc[j] = lanes[j]


@_jit
def sq_norm_lanes_total(acc):
    """Add the 64 lanes pairwise as `sq_norm` does (j + 32, then j + 16, ...); changes acc. Returns the sum."""
    w = 64
    while w > 1:
        w //= 2
        for j in range(w):
            acc[j] += acc[j + w]
    return acc[0]


@_jit(inline=True)
def polyak_lr(gg, gap, alpha, max_lr, eps):
    """The Polyak step size min(max_lr, alpha*gap/(gg + eps)) with gap = f - L; never NaN or inf.

    The one edge-case policy: no step (0.0) when gap <= 0 (f <= L), gg <= 0 (a zero
    gradient) or either is NaN or inf (a non-finite loss or gradient); when the ratio
    overflows, the cap max_lr, or no step when max_lr is inf. Callers that can report a
    non-finite loss or gradient (the optimizer classes, ``nagd.minimize``) do so before.
    """
    if not (gg > 0.0) or not (gap > 0.0) or not (gap < math.inf):
        return 0.0
    lr = alpha * gap / (gg + eps)
    if lr > max_lr:
        lr = max_lr
    if not (lr < math.inf):                    # overflowed and uncapped, or gg = inf: no step
        return 0.0
    return lr


@_jit
def subtract_scaled(x, g, lr):
    """x <- x - lr*g; changes x (a gradient step of size lr)."""
    for i in range(x.shape[0]):
        x[i] -= lr * np.float64(g[i])


axpy = subtract_scaled
"""Deprecated name of `subtract_scaled` (it subtracts, unlike BLAS's axpy ``y <- a*x + y``)."""


@_jit
def sgd_step(x, g, lr):
    """x <- x - lr*g; changes x. Returns lr*|g|^2 (the predicted decrease)."""
    return lr * sgd_step_from(x, g, lr, 0.0)


@_jit(inline=True)
def sgd_step_from(x, g, lr, gg):
    """x <- x - lr*g; changes x. Returns gg + |g|^2, summed in order (`sgd_step` is lr times it from 0)."""
    for i in range(x.shape[0]):
        gi = np.float64(g[i])
        x[i] -= lr * gi
        gg += gi * gi
    return gg


@_jit
def sgd_momentum_step(x, g, buf, lr, momentum, nesterov):
    """b <- mu*b + g; x <- x - lr*(g + mu*b if nesterov else b); changes x, buf. Returns g.(x_old - x_new)."""
    return sgd_momentum_step_from(x, g, buf, lr, momentum, nesterov, 0.0)


@_jit(inline=True)
def sgd_momentum_step_from(x, g, buf, lr, momentum, nesterov, decrease):
    """`sgd_momentum_step`, its decrease added in order to ``decrease``; changes x, buf. Returns the sum."""
    for i in range(x.shape[0]):
        gi = np.float64(g[i])
        b = momentum * np.float64(buf[i]) + gi
        buf[i] = b
        if nesterov:
            d = lr * (gi + momentum * b)
        else:
            d = lr * b
        x[i] -= d
        decrease += gi * d
    return decrease


@_jit
def adam_step(x, g, m, v, t, lr, beta1, beta2, eps):
    """Adam (PyTorch form) at step t >= 1; changes x, m, v. Returns g.(x_old - x_new)."""
    return adam_step_from(x, g, m, v, t, lr, beta1, beta2, eps, 0.0)


@_jit(inline=True)
def adam_step_from(x, g, m, v, t, lr, beta1, beta2, eps, decrease):
    """`adam_step`, its decrease added in order to ``decrease``; changes x, m, v. Returns the sum."""
    step_size = lr / (1.0 - beta1 ** t)
    bc2 = math.sqrt(1.0 - beta2 ** t)
    for i in range(x.shape[0]):
        gi = np.float64(g[i])
        mi = beta1 * np.float64(m[i]) + (1.0 - beta1) * gi
        vi = beta2 * np.float64(v[i]) + (1.0 - beta2) * gi * gi
        m[i] = mi
        v[i] = vi
        d = step_size * mi / (math.sqrt(vi) / bc2 + eps)
        x[i] -= d
        decrease += gi * d
    return decrease


@_jit
def rmsprop_step(x, g, v, lr, alpha, eps):
    """v <- a*v + (1-a)*g^2; x <- x - lr*g/(sqrt(v) + eps); changes x, v. Returns g.(x_old - x_new)."""
    return rmsprop_step_from(x, g, v, lr, alpha, eps, 0.0)


@_jit(inline=True)
def rmsprop_step_from(x, g, v, lr, alpha, eps, decrease):
    """`rmsprop_step`, its decrease added in order to ``decrease``; changes x, v. Returns the sum."""
    for i in range(x.shape[0]):
        gi = np.float64(g[i])
        vi = alpha * np.float64(v[i]) + (1.0 - alpha) * gi * gi
        v[i] = vi
        d = lr * gi / (math.sqrt(vi) + eps)
        x[i] -= d
        decrease += gi * d
    return decrease


@_jit
def adagrad_step(x, g, s, lr, eps):
    """s <- s + g^2; x <- x - lr*g/(sqrt(s) + eps); changes x, s. Returns g.(x_old - x_new)."""
    return adagrad_step_from(x, g, s, lr, eps, 0.0)


@_jit(inline=True)
def adagrad_step_from(x, g, s, lr, eps, decrease):
    """`adagrad_step`, its decrease added in order to ``decrease``; changes x, s. Returns the sum."""
    for i in range(x.shape[0]):
        gi = np.float64(g[i])
        si = np.float64(s[i]) + gi * gi
        s[i] = si
        d = lr * gi / (math.sqrt(si) + eps)
        x[i] -= d
        decrease += gi * d
    return decrease


@_jit(inline=True)
def exp_decay_lr(lr0, rate, t):
    """lr0*exp(-rate*t): the learning rate of step t = 0, 1, ... of the exponential schedule."""
    return lr0 * math.exp(-rate * t)


@_jit
def exp_decay_schedule(lr0, rate, lrs):
    """lrs[t] <- exp_decay_lr(lr0, rate, t) for every t; changes lrs."""
    for t in range(lrs.shape[0]):
        lrs[t] = exp_decay_lr(lr0, rate, t)


@_jit(inline=True)
def high_alpha_run(alpha, threshold, run):
    """The alpha-monitor rule: run + 1 when alpha >= threshold, else 0 (also for NaN alpha).

    The paper's rule ("alpha >= 2.0 ... for 3 consecutive steps") fires when the run reaches
    its patience.
    """
    if alpha >= threshold:
        return run + 1
    return 0


@_jit(inline=True)
def alpha_monitored_lr(lr, alpha, threshold, patience, factor, run):
    """AlphaMonitoredSGD's rule after a step: (lr*factor, 0) when `high_alpha_run` reaches patience, else (lr, run)."""
    run = high_alpha_run(alpha, threshold, run)
    if run >= patience:
        return lr * factor, 0
    return lr, run


@_jit
def equivalent_alpha(lr, f, gg, lower_bound):
    """alpha = lr*gg/(f - L): the fraction of f - L a step of size lr is predicted to remove.

    Returns inf when f <= L and the step is non-zero, and 0 for a zero step.
    """
    decrease = lr * gg
    if decrease == 0.0:
        return 0.0
    gap = f - lower_bound
    if not (gap > 0.0):
        return math.inf
    return decrease / gap


@_jit
def equivalent_lr(alpha, f, gg, lower_bound, max_lr):
    """lr = polyak_lr(gg, f - L, alpha, max_lr, 0): the plain-SGD learning rate of a NaGD step."""
    return polyak_lr(gg, f - lower_bound, alpha, max_lr, 0.0)


# ---------------------------------------------------------------------------
# The Polyak family (its step size is `polyak_lr` above): heavy-ball and
# Nesterov-style (ALI-G) momentum, and MoMo / MoMo-Adam, whose step size comes
# from a model of the loss built from averaged losses and gradients. Like the
# kernels above, every element update is computed in float64 from inputs
# widened with np.float64 and rounded once when stored; where a formula uses a
# stored state value (the velocity, the direction d), it reads the stored,
# dtype-rounded one.
# ---------------------------------------------------------------------------


@_jit
def dot(a, b):
    """Return sum(a*b), accumulated in float64 with four accumulators."""
    n = a.shape[0]
    s0 = s1 = s2 = s3 = 0.0
    m = n - n % 4
    for i in range(0, m, 4):
        s0 += np.float64(a[i]) * np.float64(b[i])
        s1 += np.float64(a[i + 1]) * np.float64(b[i + 1])
        s2 += np.float64(a[i + 2]) * np.float64(b[i + 2])
        s3 += np.float64(a[i + 3]) * np.float64(b[i + 3])
    for i in range(m, n):
        s0 += np.float64(a[i]) * np.float64(b[i])
    return (s0 + s1) + (s2 + s3)


@_jit(inline=True)
def _add_to_lane(s0, s1, s2, s3, lane, p):
    """The four accumulators with p added to accumulator ``lane``."""
    if lane == 0:
        return s0 + p, s1, s2, s3
    if lane == 1:
        return s0, s1 + p, s2, s3
    if lane == 2:
        return s0, s1, s2 + p, s3
    return s0, s1, s2, s3 + p


@_jit
def dot_from(a, b, start, m, acc):
    """Add to the four accumulators acc the products of a and b, the parts from index start of longer vectors.

    m is the longer length rounded down to a multiple of 4: the products of index i < m go to
    accumulator i % 4, the others to accumulator 0, each in index order, as in `dot`; changes
    acc. After the last part, ``(acc[0] + acc[1]) + (acc[2] + acc[3])`` is dot on the
    concatenations.
    """
    s0, s1, s2, s3 = acc[0], acc[1], acc[2], acc[3]
    n = a.shape[0]
    lo = min(n, max(0, (-start) % 4))                 # up to the first index that is a multiple of 4
    hi = max(lo, min(n, m - start))                   # and the part below m
    hi = lo + ((hi - lo) // 4) * 4
    for k in range(lo):
        s0, s1, s2, s3 = _add_to_lane(s0, s1, s2, s3, (start + k) % 4 if start + k < m else 0,
                                      np.float64(a[k]) * np.float64(b[k]))
    a4, b4 = a[lo:hi], b[lo:hi]                       # whole groups of four: as in dot
    for k in range(0, hi - lo, 4):
        s0 += np.float64(a4[k]) * np.float64(b4[k])
        s1 += np.float64(a4[k + 1]) * np.float64(b4[k + 1])
        s2 += np.float64(a4[k + 2]) * np.float64(b4[k + 2])
        s3 += np.float64(a4[k + 3]) * np.float64(b4[k + 3])
    for k in range(hi, n):                            # the rest, one by one
        s0, s1, s2, s3 = _add_to_lane(s0, s1, s2, s3, (start + k) % 4 if start + k < m else 0,
                                      np.float64(a[k]) * np.float64(b[k]))
    acc[0] = s0
    acc[1] = s1
    acc[2] = s2
    acc[3] = s3


@_jit
def polyak_momentum_step(x, g, v, lr, momentum):
    """v <- mu*v - lr*g; x <- x + v (heavy ball); changes x, v."""
    for i in range(x.shape[0]):
        v[i] = momentum * np.float64(v[i]) - lr * np.float64(g[i])
        x[i] = np.float64(x[i]) + np.float64(v[i])             # the stored (dtype-rounded) velocity


@_jit
def alig_step(x, g, b, lr, momentum):
    """x <- x - lr*g; b <- mu*b - lr*g; x <- x + mu*b (ALI-G's Nesterov form); changes x, b."""
    for i in range(x.shape[0]):
        gi = np.float64(g[i])
        b[i] = momentum * np.float64(b[i]) - lr * gi
        x[i] -= lr * gi - momentum * np.float64(b[i])           # the stored (dtype-rounded) buffer


@_jit
def alig_adjusted_step(x, g, b, lr, momentum):
    """x <- x - lr*g; b <- mu*b - g; x <- x + lr*mu*b (ALI-G's "adjusted", PyTorch-like momentum); changes x, b."""
    for i in range(x.shape[0]):
        gi = np.float64(g[i])
        b[i] = momentum * np.float64(b[i]) - gi
        x[i] -= lr * gi - lr * momentum * np.float64(b[i])      # the stored (dtype-rounded) buffer


@_jit
def momo_moments(x, g, d, stats, beta):
    """d <- beta*d + (1-beta)*g; changes d and stats = [x.g, x.d, |d|^2, g.d] (float64, x before the step)."""
    stats[:] = 0.0
    momo_moments_from(x, g, d, stats, beta)


@_jit(inline=True)
def momo_moments_from(x, g, d, stats, beta):
    """`momo_moments`, adding its four sums in order to those already in stats; changes d, stats."""
    xg, xd, dd, gd = stats[0], stats[1], stats[2], stats[3]
    for i in range(x.shape[0]):
        d[i] = beta * np.float64(d[i]) + (1.0 - beta) * np.float64(g[i])
        xi = np.float64(x[i])
        gi = np.float64(g[i])
        di = np.float64(d[i])
        xg += xi * gi
        xd += xi * di
        dd += di * di
        gd += gi * di
    stats[0] = xg
    stats[1] = xd
    stats[2] = dd
    stats[3] = gd


@_jit
def momo_update(x, d, tau, shrink):
    """x <- (x - tau*d)/shrink (shrink = 1 + lr*weight_decay); changes x."""
    for i in range(x.shape[0]):
        x[i] = (np.float64(x[i]) - tau * np.float64(d[i])) / shrink


@_jit
def momo_adam_moments(x, g, m, v, stats, beta1, beta2, bc2, eps):
    """Adam moments m, v; D = sqrt(v/bc2) + eps; changes m, v and stats = [x.g, x.m, sum(m^2/D), sum(g*m/D)]."""
    stats[:] = 0.0
    momo_adam_moments_from(x, g, m, v, stats, beta1, beta2, bc2, eps)


@_jit(inline=True)
def momo_adam_moments_from(x, g, m, v, stats, beta1, beta2, bc2, eps):
    """`momo_adam_moments`, adding its four sums in order to those already in stats; changes m, v, stats."""
    xg, xm, mdm, gmd = stats[0], stats[1], stats[2], stats[3]
    for i in range(x.shape[0]):
        gi = np.float64(g[i])
        m[i] = beta1 * np.float64(m[i]) + (1.0 - beta1) * gi
        v[i] = beta2 * np.float64(v[i]) + (1.0 - beta2) * gi * gi
        mf = np.float64(m[i])
        xi = np.float64(x[i])
        md = mf / (math.sqrt(np.float64(v[i]) / bc2) + eps)
        xg += xi * gi
        xm += xi * mf
        mdm += mf * md
        gmd += gi * md
    stats[0] = xg
    stats[1] = xm
    stats[2] = mdm
    stats[3] = gmd


@_jit
def momo_adam_update(x, m, v, tau, bc2, eps, decay, shrink):
    """x <- (decay*x - tau*m/D)/shrink with D = sqrt(v/bc2) + eps; changes x."""
    for i in range(x.shape[0]):
        x[i] = (decay * np.float64(x[i]) - tau * np.float64(m[i]) / (math.sqrt(np.float64(v[i]) / bc2) + eps)) / shrink
