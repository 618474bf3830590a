"""The paper's network against the same network in PyTorch: same weights and inputs give the same
scores, loss and gradients to 1e-5 in float32 (skipped when PyTorch is not installed)."""
import numpy as np
import pytest

from nagd.experiments.mnist import build_model
from nagd.nn import softmax_cross_entropy

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = 1e-5


def _torch_params(model):
    """Our layers' parameters as torch leaf tensors, in PyTorch's layout (Linear weight is W.T)."""
    conv1, conv2, fc1, fc2 = (model.layers[i] for i in (0, 3, 8, 11))
    out = {}
    for tag, layer in (("conv1", conv1), ("conv2", conv2)):
        out[f"{tag}.weight"] = torch.tensor(layer.params["W"].copy(), requires_grad=True)
        out[f"{tag}.bias"] = torch.tensor(layer.params["b"].copy(), requires_grad=True)
    for tag, layer in (("fc1", fc1), ("fc2", fc2)):
        out[f"{tag}.weight"] = torch.tensor(layer.params["W"].T.copy(), requires_grad=True)
        out[f"{tag}.bias"] = torch.tensor(layer.params["b"].copy(), requires_grad=True)
    return out


def _torch_forward(p, x, mask2d=None, mask=None):
    """PyTorch's MNIST example net; dropout masks (ours) applied explicitly when given."""
    h = F.relu(F.max_pool2d(F.conv2d(x, p["conv1.weight"], p["conv1.bias"]), 2))
    h = F.conv2d(h, p["conv2.weight"], p["conv2.bias"])
    if mask2d is not None:
        h = h * mask2d
    h = F.relu(F.max_pool2d(h, 2)).reshape(x.shape[0], -1)
    h = F.relu(F.linear(h, p["fc1.weight"], p["fc1.bias"]))
    if mask is not None:
        h = h * mask
    return F.linear(h, p["fc2.weight"], p["fc2.bias"])


def _our_grads_in_torch_layout(model):
    conv1, conv2, fc1, fc2 = (model.layers[i] for i in (0, 3, 8, 11))
    return {"conv1.weight": conv1.grads["W"], "conv1.bias": conv1.grads["b"],
            "conv2.weight": conv2.grads["W"], "conv2.bias": conv2.grads["b"],
            "fc1.weight": fc1.grads["W"].T, "fc1.bias": fc1.grads["b"],
            "fc2.weight": fc2.grads["W"].T, "fc2.bias": fc2.grads["b"]}


def _close(ours, theirs, what):
    theirs = np.asarray(theirs, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(theirs))))
    err = float(np.max(np.abs(np.asarray(ours, dtype=np.float64) - theirs)))
    assert err <= TOL * scale, f"{what}: max abs difference {err:.3g} > {TOL} x {scale:.3g}"


@pytest.mark.parametrize("train", [False, True])
def test_forward_loss_and_gradients_equal_pytorch(rng, train):
    torch.manual_seed(0)
    model = build_model(np.float32, seed=1)
    x = rng.standard_normal((60, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, size=60)

    scores = model.forward(x, train=train)
    loss, dscores = softmax_cross_entropy(scores, y)
    model.backward(dscores)
    assert scores.dtype == np.float32 and model.grads.dtype == np.float32

    p = _torch_params(model)
    masks = {}
    if train:   # the same dropout masks: ours, applied in the torch graph
        masks = {"mask2d": torch.tensor(model.layers[4]._mask), "mask": torch.tensor(model.layers[10]._mask)}
        assert 0 < float((model.layers[10]._mask == 0).mean()) < 1
    t_scores = _torch_forward(p, torch.tensor(x), **masks)
    t_loss = F.cross_entropy(t_scores, torch.tensor(y))
    t_loss.backward()

    _close(scores, t_scores.detach().numpy(), "scores")
    _close(loss, t_loss.item(), "loss")
    for name, grad in _our_grads_in_torch_layout(model).items():
        _close(grad, p[name].grad.numpy(), f"gradient of {name}")


def test_one_hot_targets_equal_pytorch_soft_target_cross_entropy(rng):
    scores = rng.standard_normal((60, 10)).astype(np.float32) * 4
    y = rng.integers(0, 10, size=60)
    onehot = np.eye(10, dtype=np.float32)[y]
    loss, d = softmax_cross_entropy(scores, onehot)
    t = torch.tensor(scores, requires_grad=True)
    t_loss = F.cross_entropy(t, torch.tensor(onehot))
    t_loss.backward()
    _close(loss, t_loss.item(), "loss")
    _close(d, t.grad.numpy(), "dscores")
