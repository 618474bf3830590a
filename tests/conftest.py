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
