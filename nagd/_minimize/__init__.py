"""Norm-adapted gradient descent as a ``scipy.optimize.minimize`` method.

``nagd`` is a custom method for ``scipy.optimize.minimize(..., method=nagd)``;
``minimize`` runs the same algorithm without going through scipy. Both end in
one driver:

* the Python loop, which calls any ``fun``/``jac`` (one compiled helper call per
  iteration does the stopping tests, the lower-bound estimate of
  `nagd.optim.lower_bound.path_level` and the step), or
* the compiled whole loop `_compiled_loop`, used when ``fun`` and ``jac`` are
  Numba-jitted functions and no ``callback``, ``stop`` rule or ``return_all``
  asks for Python work between iterations. Both give bit-identical iterates:
  they share `_advance`, which holds every test and the step.

Iteration count convention
--------------------------
``x_0 = x0`` is iterate 0 and ``x_k`` the point after ``k`` steps; ``nit`` is
the number of steps taken, so the returned point is ``x_nit``. ``f`` and the
gradient are evaluated at every iterate, the final one included, so with an
analytic ``jac`` ``nfev == njev == nit + 1`` (except after status 2). The
paper numbers iterates from 1 (``x_0`` is step 1): its "steps to reach
``f <= t``" is ``nit + 1`` of a run with ``tol=t`` and ``lower_bound=0``.

Layout: `_inputs` (checks and derivative adapters), `_loops` (NaGD's loop state, step and two
loops), `_bundle` (the bundle of cuts, the level and the bundle's loops), `_qp` (the projection onto
the cuts and its certificates) and `_front`
(the front ends and the results).
"""
from ._front import bundle, minimize, nagd

__all__ = ["nagd", "bundle", "minimize"]
