"""Shared helpers of the Python tests.

The tests import ``sslwatch`` as installed (CI: a fresh venv with the wheel,
see scripts/ci-python.sh). From a checkout without an install, run them with
``PYTHONPATH=python``; the end-to-end test then skips (or fails under
``SSLWATCH_REQUIRE_INSTALLED=1``, as in CI).
"""

import numpy as np
import pytest


class FakeTensor:
    """Stands in for a torch tensor (on a GPU, with autograd): only
    ``.detach().cpu().numpy()`` gives the data, and each step is recorded,
    so a test can tell that the writer took that path without torch."""

    def __init__(self, array, calls=None, device="cuda:0", grad=True):
        self._array = np.asarray(array)
        self.calls = [] if calls is None else calls
        self.device = device
        self.grad = grad

    @property
    def shape(self):
        return self._array.shape

    @property
    def ndim(self):
        return self._array.ndim

    def detach(self):
        self.calls.append("detach")
        return FakeTensor(self._array, self.calls, self.device, grad=False)

    def cpu(self):
        self.calls.append("cpu")
        return FakeTensor(self._array, self.calls, "cpu", self.grad)

    def numpy(self):
        self.calls.append("numpy")
        if self.device != "cpu":
            raise TypeError("can't convert cuda tensor to numpy; use .cpu() first")
        if self.grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad")
        return self._array

    def item(self):
        self.calls.append("item")
        if self._array.size != 1:
            raise RuntimeError(f"a Tensor with {self._array.size} elements cannot be converted to Scalar")
        return self._array.reshape(()).item()

    def __array__(self, *a, **k):  # what a careless np.asarray(tensor) would use
        raise AssertionError("the writer must not call np.asarray on a tensor directly")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
