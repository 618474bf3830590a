import os

import numpy as np
import pytest
from hypothesis import settings

# No per-example deadline: the first example of a test compiles its kernels, and a loaded machine is
# slow. Under CI the examples are drawn from a fixed seed, so a run can be repeated exactly.
settings.register_profile("nagd", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "nagd")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def after_each_epoch(monkeypatch):
    """``after_each_epoch(action)``: call ``action(epoch)`` after each epoch's checkpoint of an MNIST run
    is written (the real writer runs first), e.g. to interrupt a run or count the epochs it trains."""
    from nagd.experiments.mnist import training
    write = training.save_checkpoint             # the real writer, also when the action is replaced

    def install(action):
        def save(folder, config, seed, params, optimizer, generators, history):
            write(folder, config, seed, params, optimizer, generators, history)
            action(history["epoch"][-1])
        monkeypatch.setattr(training, "save_checkpoint", save)
    return install
