"""Nonsmooth convex test problems: the Lukšan-Vlček set and five large-scale ones.

Two standard collections of convex, nonsmooth, unconstrained test problems, each with
its standard starting point, dimension and published optimal value ``f*``:

`LUKSAN_VLCEK`
    The 16 convex problems of Lukšan & Vlček's unconstrained nonsmooth set: CB2, CB3,
    DEM, QL, LQ, Mifflin1, Mifflin2, Wolfe, Rosen-Suzuki, Shor, Maxquad, Maxq, Maxl,
    Goffin, MXHILB and L1HILB (n from 2 to 50).
`large_scale`
    The convex problems of Haarala, Miettinen & Mäkelä, defined for any n:
    generalised MAXQ and MXHILB, chained LQ, chained CB3 I and II (names in
    `LARGE_SCALE`).

Every problem is a `NonsmoothProblem`. Its two functions are ``@njit(cache=True)``, so a
compiled optimisation loop can call them, and work in float64:

``fun(x) -> float``
    The value at a 1-D float64 array ``x`` of length n.
``jac(x) -> ndarray``
    One subgradient: a new float64 array of shape (n,). Where ``fun`` is differentiable
    (almost everywhere) it is the gradient; at a kink it is the gradient of one active
    piece (the first in the order of the formula), or 0 for a term ``|t|`` with t = 0,
    which is always an element of the subdifferential.

`feasibility` builds a random convex feasibility problem (the largest violation of half-spaces
and balls, ``f* = 0``) in plain NumPy.

`relative_error` measures progress as ``(f - f*) / (f(x0) - f*)``. The large-scale problems are those of [2]_.

The formulas, starting points and dimensions follow the authors' Fortran test routines
(Lukšan & Vlček's TEST19 subroutines TIUD19/TFFU19/TFGU19 and Haarala's TNSUNC
STARTX/FUNC). The optimal values, starting values and quoted minimisers were checked
against independent implementations (PyOPUS's copy of the optimal-value table of [1]_,
the LukFi functions of SMS++, OpenOpt, rHanso, soobench) and the optimum of every
problem without a closed form was recomputed by solving its optimality conditions (see
each problem's ``source`` and the comments below).
The optimal values ``fstar`` are the published ones, rounded as published (CB2, Shor
and Maxquad to 7 or 8 significant digits; the others are exact).

References
----------
.. [1] L. Lukšan and J. Vlček, "Test problems for nonsmooth unconstrained and linearly
   constrained optimization", Technical report V-798, Institute of Computer Science,
   Academy of Sciences of the Czech Republic, Prague, 2000.
.. [2] M. Haarala, K. Miettinen and M. M. Mäkelä, "New limited memory bundle method for
   large-scale nonsmooth optimization", Optimization Methods and Software 19(6),
   673-692, 2004.
"""
import math
from numbers import Integral
from typing import NamedTuple

import numpy as np

from ._feasibility import feasibility
from ._scalable import (maxq, maxq_jac, maxl, maxl_jac, goffin, goffin_jac, mxhilb, mxhilb_jac, l1hilb, l1hilb_jac,
                        chained_lq, chained_lq_jac, chained_cb3_1, chained_cb3_1_jac, chained_cb3_2, chained_cb3_2_jac)
from ._small import (cb2, cb2_jac, cb3, cb3_jac, dem, dem_jac, ql, ql_jac, lq, lq_jac, mifflin1, mifflin1_jac,
                     mifflin2, mifflin2_jac, wolfe, wolfe_jac, rosen_suzuki, rosen_suzuki_jac, shor, shor_jac,
                     maxquad, maxquad_jac)

__all__ = ["NonsmoothProblem", "LUKSAN_VLCEK", "LARGE_SCALE", "large_scale", "relative_error", "feasibility"]

_LV = "Lukšan & Vlček (2000), TR V-798"
_HMM = "Haarala, Miettinen & Mäkelä (2004), OMS 19(6)"


class NonsmoothProblem(NamedTuple):
    """A nonsmooth test problem with its standard start and published optimum.

    Attributes
    ----------
    name : str
    n : int
        Number of variables.
    x0 : ndarray
        The standard starting point, float64 of shape (n,). The arrays of `LUKSAN_VLCEK`
        are shared and read-only: copy them before changing them in place.
    fstar : float
        The published optimal value (the minimum of ``fun``).
    xstar : ndarray or None
        A minimiser, float64 of shape (n,): exact where known in closed form, otherwise
        accurate to about 12 digits (see the comments in the source for the published
        approximations it agrees with). None where none is known.
    fun : Numba function
        ``fun(x) -> float``.
    jac : Numba function
        ``jac(x) -> ndarray``: one subgradient, a new float64 array of shape (n,).
    source : str
        Short citation of the problem's definition.
    """

    name: str
    n: int
    x0: np.ndarray
    fstar: float
    xstar: object
    fun: object
    jac: object
    source: str


# ----------------------------------------------------------------------------------------
# The collections
# ----------------------------------------------------------------------------------------

def _frozen(values):
    a = np.array(values, dtype=np.float64)
    a.flags.writeable = False
    return a


def _maxq_start(n):
    """x_i = i for i <= n // 2, x_i = -i after (1-based), the start of Maxq and generalised MAXQ."""
    i = np.arange(1, n + 1, dtype=np.float64)
    return np.where(i <= n // 2, i, -i)


def _lv(name, number, x0, fstar, xstar, fun, jac):
    x0 = _frozen(x0)
    return NonsmoothProblem(name, x0.size, x0, float(fstar), None if xstar is None else _frozen(xstar), fun, jac,
                            f"{_LV}, TEST19 no. {number}")


_S2 = 1.0 / math.sqrt(2.0)

LUKSAN_VLCEK = {p.name: p for p in (
    # Optimal values: table of [1] as listed by pyopus.problems.lvns (UNS.fminTab) and SMS++'s
    # LukFiBlock.h; starting points and dimensions: TIUD19 (f2c copy in pyopus, src/lvns/lvuns.c).
    # CB2: f* = 1.9522245 (1.952224493870659 by solving the optimality conditions). The minimiser
    # often quoted, (1.139286, 0.899365), is 2.5e-4 away and gives f = 1.9522260; the one below
    # solves the KKT system of the two active pieces to machine precision.
    _lv("CB2", 3, (1.0, -0.1), 1.9522245, (1.139037651992663, 0.899559938395393), cb2, cb2_jac),
    _lv("CB3", 4, (2.0, 2.0), 2.0, (1.0, 1.0), cb3, cb3_jac),
    _lv("DEM", 5, (1.0, 1.0), -3.0, (0.0, -3.0), dem, dem_jac),
    _lv("QL", 6, (-1.0, 5.0), 7.2, (1.2, 2.4), ql, ql_jac),
    # LQ: published as -1.4142136; the exact value is -sqrt(2) at (1/sqrt(2), 1/sqrt(2)).
    _lv("LQ", 7, (-0.5, -0.5), -math.sqrt(2.0), (_S2, _S2), lq, lq_jac),
    _lv("Mifflin1", 8, (0.8, 0.6), -1.0, (1.0, 0.0), mifflin1, mifflin1_jac),
    # Mifflin2 is listed as nonconvex by some collections; it is convex: t -> 2 t + 1.75 |t| is
    # convex and nondecreasing (slopes 0.25 and 3.75) and t = x1^2 + x2^2 - 1 is convex.
    _lv("Mifflin2", 9, (-1.0, -1.0), -1.0, (1.0, 0.0), mifflin2, mifflin2_jac),
    _lv("Wolfe", 10, (3.0, 2.0), -8.0, (-1.0, 0.0), wolfe, wolfe_jac),
    _lv("Rosen-Suzuki", 11, (0.0, 0.0, 0.0, 0.0), -44.0, (0.0, 1.0, 2.0, -1.0), rosen_suzuki, rosen_suzuki_jac),
    # Shor: f* = 22.600162 (22.6001620957709 from the KKT system of the four active pieces 2, 4, 5,
    # 9); rHanso quotes x* = (1.1243510, 0.9794616, 1.4777077, 0.9202335, 1.1242916), within 1e-7.
    _lv("Shor", 12, (0.0, 0.0, 0.0, 0.0, 1.0), 22.600162,
        (1.124351010186616, 0.979461599313655, 1.477707751964263, 0.920233485884858, 1.124291588004843),
        shor, shor_jac),
    # Maxquad: start x_i = 1 (TIUD19; f(x0) = 5337.0664, as in OpenOpt's runs of this problem; one
    # MATLAB collection starts at 0 instead). f* = -0.8414083 (-0.8414083345964 from the KKT system
    # of the four active pieces 2-5, OpenOpt: -0.841408334596); OpenOpt's 6-digit minimiser
    # (-0.126257, -0.0343781, -0.0068572, 0.0263607, 0.067295, -0.278399, 0.0742187, 0.138524,
    # 0.0840313, 0.0385803) agrees with the one below to 1e-6.
    _lv("Maxquad", 16, np.ones(10), -0.8414083,
        (-0.126256580774725, -0.034378302562041, -0.006857198326981, 0.026360658246338, 0.067294922689741,
         -0.278399500751994, 0.074218664544694, 0.138524047837297, 0.084031223125332, 0.038580309772731),
        maxquad, maxquad_jac),
    _lv("Maxq", 19, _maxq_start(20), 0.0, np.zeros(20), maxq, maxq_jac),
    _lv("Maxl", 20, _maxq_start(20), 0.0, np.zeros(20), maxl, maxl_jac),
    # Goffin: the minimum 0 is reached on the whole line x = c (1, ..., 1).
    _lv("Goffin", 22, np.arange(1, 51) - 25.5, 0.0, np.zeros(50), goffin, goffin_jac),
    _lv("MXHILB", 23, np.ones(50), 0.0, np.zeros(50), mxhilb, mxhilb_jac),
    _lv("L1HILB", 24, np.ones(50), 0.0, np.zeros(50), l1hilb, l1hilb_jac),
)}
"""``{name: NonsmoothProblem}``: the 16 convex problems of Lukšan & Vlček (2000), in their order."""

LARGE_SCALE = ("gen_maxq", "gen_mxhilb", "chained_lq", "chained_cb3_1", "chained_cb3_2")
"""Names accepted by `large_scale`."""


def large_scale(name, n):
    """Return a convex large-scale problem of Haarala, Miettinen & Mäkelä (2004) in n variables.

    ========================  ========================================  =================
    name                      x0                                        f*
    ========================  ========================================  =================
    ``"gen_maxq"``            x_i = i (i <= n // 2), x_i = -i after      0 at 0
    ``"gen_mxhilb"``          x_i = 1                                   0 at 0
    ``"chained_lq"``          x_i = -0.5                                -(n-1) sqrt(2) at
                                                                        x_i = 1/sqrt(2)
    ``"chained_cb3_1"``       x_i = 2                                   2 (n-1) at x_i = 1
    ``"chained_cb3_2"``       x_i = 2                                   2 (n-1) at x_i = 1
    ========================  ========================================  =================

    Parameters
    ----------
    name : str
        One of `LARGE_SCALE`.
    n : int
        Number of variables, at least 2.

    Returns
    -------
    NonsmoothProblem
        With fresh (writable) ``x0`` and ``xstar`` arrays.

    Raises
    ------
    ValueError
        For an unknown name or an n that is not an integer >= 2.
    """
    if name not in LARGE_SCALE:
        raise ValueError(f"name must be one of {', '.join(LARGE_SCALE)}, got {name!r}")
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    n = int(n)
    # Starting points: STARTX of TNSUNC (Haarala's Fortran, the test routines of LMBM).
    if name == "gen_maxq":
        x0, fstar, xstar, fun, jac, k = _maxq_start(n), 0.0, np.zeros(n), maxq, maxq_jac, 1
    elif name == "gen_mxhilb":
        x0, fstar, xstar, fun, jac, k = np.ones(n), 0.0, np.zeros(n), mxhilb, mxhilb_jac, 2
    elif name == "chained_lq":
        # each term is at least -sqrt(2) (the minimum of LQ), with equality at x_i = x_{i+1} = 1/sqrt(2)
        x0, fstar, xstar, fun, jac, k = (np.full(n, -0.5), -(n - 1) * math.sqrt(2.0), np.full(n, _S2),
                                         chained_lq, chained_lq_jac, 3)
    elif name == "chained_cb3_1":
        # each term is at least 2 (the minimum of CB3), with equality at x_i = x_{i+1} = 1
        x0, fstar, xstar, fun, jac, k = np.full(n, 2.0), 2.0 * (n - 1), np.ones(n), chained_cb3_1, chained_cb3_1_jac, 4
    else:
        # at x = 1 the three sums are equal, and the weights (2, 3, 1) / 6 of their gradients sum to 0
        x0, fstar, xstar, fun, jac, k = np.full(n, 2.0), 2.0 * (n - 1), np.ones(n), chained_cb3_2, chained_cb3_2_jac, 5
    return NonsmoothProblem(name, n, x0, float(fstar), xstar, fun, jac, f"{_HMM}, TNSUNC no. {k}")


def relative_error(problem, f, f0=None):
    """Relative error ``(f - f*) / (f(x0) - f*)``: 1 at the start, 0 at the optimum.

    Parameters
    ----------
    problem : NonsmoothProblem
    f : float or array_like
        Function value(s), e.g. the best value found so far at each iteration.
    f0 : float, optional
        ``f(x0)``; computed with ``problem.fun`` when not given.

    Returns
    -------
    float or ndarray
        A float for a scalar ``f``, else an array of the shape of ``f``. Slightly negative
        values are possible where ``fstar`` is a rounded published value (CB2, Shor,
        Maxquad: by at most half a unit of its last digit).
    """
    if f0 is None:
        f0 = problem.fun(np.array(problem.x0, dtype=np.float64))
    r = (np.asarray(f, dtype=np.float64) - problem.fstar) / (float(f0) - problem.fstar)
    return float(r) if r.ndim == 0 else r
