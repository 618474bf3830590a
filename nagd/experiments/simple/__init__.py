"""Section 2: simple functions (Tables 1 and 2, Figures 1-3).

Standard gradient descent (SGD, fixed learning rate ``eta``) against norm-adapted
descent (NaSGD, ``lr = min(1, alpha*f/|g|^2)``, lower bound 0) on the quadratic
``q(x, y) = 8x^2 + y^2/2`` from (1, 1) (Table 1) and the Rosenbrock function from
(-3, -4) (Table 2).

Counting
    ``x_0`` is step 1 (the paper's counting): "steps to reach t" is ``k + 1`` for
    the first iterate ``x_k`` with ``f(x_k) <= t``. A run stops when the last
    threshold is reached, when ``f`` is not finite or exceeds 1e20 (diverged: the
    paper's up arrow; parameters became large) or after ``maxiter`` steps.
Arithmetic (`PRECISIONS`)
    Each row is run in three precisions. In all of them ``f`` and the gradient are
    computed in the iterate's dtype (`nagd.problems`: float32 input, float32 rounding at
    every operation).

    ``"float64"``
        Everything in float64.
    ``"float32"``
        The iterate is stored in float32; the step ``x - lr*g`` (and NaSGD's ``lr``, from
        ``|g|^2`` summed in float64) is computed in float64 and rounded once, as the
        library's optimizers do (`nagd.kernels`).
    ``"float32-all"``
        Every operation in float32: ``lr`` (SGD's ``eta`` rounded to float32, or
        ``min(1, alpha*f/|g|^2)`` with ``|g|^2`` summed in float32 in index order) and
        ``x - lr*g``. This is the paper's arithmetic: it reproduces every SGD row of both
        tables exactly (Table 2's SGD(0.0003945) reaches 1e-6 at step 13633; 13626 in
        ``"float32"``, 13630 in float64).

    The precision policy: both tables compare ``"float32-all"`` to the paper and show the
    other two beside it. NaSGD rows are chaotic (a change of the last bit changes the
    step counts), so they are also reported as distributions over nudged starting points.
Loops and times
    *compiled*: the whole loop in Numba (`nagd.kernels` steps on `nagd.problems`), one
    call from Python per run (its few microseconds of call overhead included).
    *Python*: what a user writes: one Python loop for both methods (`python_descend`),
    calling ``fun``, ``jac`` and the optimizer's ``step``: ``nagd.optim.NaGD.step``
    (alpha, ``max_lr`` 1) for NaSGD, ``nagd.optim.SGD.step`` for SGD; no scipy in between.
    Both time the run to the last threshold in float64 (median of repeats); every row
    is scaled to the first row, the paper's best SGD run. Both loops must give the same
    step counts (checked in each run).
Search
    Best SGD learning rate: the fewest steps to the last threshold over ``lr_grid``
    (log-spaced) then over ``refine`` points spaced linearly between the best point's
    neighbours; best NaSGD alpha: the same over ``alpha_grid`` (linear). Ties go to the
    smaller value. Runs in the table's dtype; a candidate is stopped as soon as it
    needs more steps than the best so far.
Random alpha
    ``alpha ~ U[0.2, 2]`` over ``runs * trials`` trials (2000), each run with its own
    seed; the table shows the mean steps over trials. The compiled loop is timed on
    every trial, the Python loop (slow: ~10 ms per Rosenbrock trial) only on the first
    ``python_trials`` trials of each run; ms/run is the median time per step times the
    mean steps of all trials.

=================  ==============================================================
module             contents
=================  ==============================================================
`configs`          `CONFIGS`, `QUICK`, `TARGETS`, `PRIMARY`, `NUDGE_SCALE`
`loops`            `descend` (compiled), `python_descend`, `PRECISIONS`
`measurements`     `run`: rows and times, searches, nudges, expectations, random alphas, fields
`figures`          `report`: Tables 1-2 and Figures 1-3
=================  ==============================================================
"""
from .configs import CONFIGS, NUDGE_SCALE, PRIMARY, PUBLISHED, QUICK, RESULT_VERSION, TARGETS
from .figures import report
from .loops import DIVERGED, NAGD_METHOD, PRECISIONS, SGD_METHOD, descend, python_descend
from .measurements import _compiled, _method, _speed_ratio, run

__all__ = ["CONFIGS", "QUICK", "TARGETS", "PUBLISHED", "run", "report", "descend", "python_descend", "PRECISIONS",
           "PRIMARY", "NUDGE_SCALE", "RESULT_VERSION", "SGD_METHOD", "NAGD_METHOD", "DIVERGED"]
