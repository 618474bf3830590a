"""Cross-check MoMo and MoMo-Adam against the authors' PyTorch code (package momo-opt), when installed.

Optional: skipped unless both ``torch`` and ``momo`` import. Run locally with e.g.
``pip install torch momo-opt``; nothing here is needed by the library.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
momo = pytest.importorskip("momo")
if not hasattr(momo, "MomoAdam"):                   # another package of that name
    pytest.skip("the momo package found is not momo-opt", allow_module_level=True)


def least_squares(seed=0, n=12, d=5):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d))
    b = A @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    return A, b, rng.standard_normal(d)


CASES = [
    ("Momo", {"lr": 1.0, "beta": 0.9}, {"max_lr": 1.0, "beta": 0.9}),
    ("Momo", {"lr": 0.5, "beta": 0.8, "weight_decay": 0.1, "bias_correction": True},
     {"max_lr": 0.5, "beta": 0.8, "weight_decay": 0.1, "bias_correction": True}),
    ("Momo", {"lr": 2.0, "use_fstar": True}, {"max_lr": 2.0, "lower_bound": "auto"}),
    ("MomoAdam", {"lr": 0.1}, {"max_lr": 0.1}),
    ("MomoAdam", {"lr": 0.1, "weight_decay": 0.05, "divide": False},
     {"max_lr": 0.1, "weight_decay": 0.05, "divide": False}),
    ("MomoAdam", {"lr": 0.5, "use_fstar": True, "weight_decay": 0.05}, {"max_lr": 0.5, "lower_bound": "auto",
                                                                       "weight_decay": 0.05}),
]


@pytest.fixture
def float64_default():
    """The reference keeps <g, x>'s average in a tensor of torch's default dtype: make it float64."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.mark.parametrize("name, theirs, ours", CASES)
def test_matches_the_official_implementation(float64_default, name, theirs, ours):
    from nagd.optim import MoMo, MoMoAdam
    A, b, x0 = least_squares()
    At, bt = torch.tensor(A), torch.tensor(b)
    w = torch.tensor(x0.copy(), requires_grad=True)
    ref = getattr(momo, name)([w], **theirs)
    opt = (MoMo if name == "Momo" else MoMoAdam)(**ours)
    x = x0.copy()
    for _ in range(30):
        ref.zero_grad()
        loss = 0.5 * torch.mean((At @ w - bt) ** 2)
        loss.backward()
        ref.step(loss=loss)
        r = A @ x - b
        opt.step(x, A.T @ r / len(b), 0.5 * float(np.mean(r * r)))
        np.testing.assert_allclose(x, w.detach().numpy(), rtol=1e-10, atol=1e-12)
