"""Messages that reject an argument say what is accepted, as SciPy users expect.

Every message that rejects ``lower_bound`` names ``'auto'``, the bound the methods estimate
themselves, and where it is taken.
"""
import inspect

import numpy as np
import pytest
import scipy.optimize as so

import nagd
from nagd import _validation, optim

BAD = [None, np.inf, -np.inf, np.nan, "guess", True, [1.0], object()]


def quadratic(x):
    return float(x @ x)


def gradient(x):
    return 2.0 * x


def build(cls, **kw):
    """cls(**kw), with 0.1 for every argument that has no default (a learning rate)."""
    for name, p in inspect.signature(cls).parameters.items():
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in kw:
            kw[name] = 0.1
    return cls(**kw)


def takes_auto():
    """The optimizer classes whose lower_bound may be 'auto'."""
    names = []
    for name in optim.__all__:
        cls = getattr(optim, name)
        if not (isinstance(cls, type) and issubclass(cls, optim.Optimizer)):
            continue
        if "lower_bound" not in inspect.signature(cls).parameters:
            continue
        try:
            build(cls, lower_bound="auto")
        except TypeError as exc:
            if "lower_bound" not in str(exc):
                raise
        else:
            names.append(name)
    return names


@pytest.mark.parametrize("value", BAD, ids=repr)
@pytest.mark.parametrize("method", ["nagd", "bundle"])
def test_minimize_names_auto(method, value):
    with pytest.raises((TypeError, ValueError), match="lower_bound must be a finite number or 'auto'"):
        nagd.minimize(quadratic, np.ones(2), jac=gradient, method=method, lower_bound=value)


@pytest.mark.parametrize("value", BAD, ids=repr)
def test_scipy_front_door_names_auto(value):
    with pytest.raises((TypeError, ValueError), match="lower_bound must be a finite number or 'auto'"):
        so.minimize(quadratic, np.ones(2), jac=gradient, method=nagd.nagd, options={"lower_bound": value})


@pytest.mark.parametrize("name", takes_auto())
@pytest.mark.parametrize("value", BAD, ids=repr)
def test_optimizers_that_take_auto_name_it(name, value):
    with pytest.raises((TypeError, ValueError), match="lower_bound must be a finite number or 'auto'"):
        build(getattr(optim, name), lower_bound=value)


def test_the_list_of_where_auto_is_taken_is_right():
    assert takes_auto()
    assert set(_validation.AUTO_BOUND.replace(" and ", ", ").split(", ")) == {"nagd.minimize", *takes_auto()}


@pytest.mark.parametrize("make", [lambda v: optim.SGD(lr=0.1, lower_bound=v),
                                  lambda v: optim.Adam(lower_bound=v),
                                  lambda v: nagd.equivalent_alpha(0.1, 1.0, np.ones(2), lower_bound=v)],
                         ids=["SGD", "Adam", "equivalent_alpha"])
def test_numbers_only_say_where_auto_is_taken(make):
    with pytest.raises(TypeError, match="lower_bound must be a finite number here: 'auto' is taken only by "
                                        "nagd.minimize, NaGD"):
        make("auto")
    with pytest.raises(TypeError, match="got None"):
        make(None)


def test_other_messages_are_unchanged():
    with pytest.raises(TypeError, match=r"^alpha must be a real number, got None$"):
        optim.NaGD(alpha=None)
    with pytest.raises(ValueError, match=r"^lr must be a positive finite number, got 0\.0$"):
        optim.SGD(lr=0.0)
