import jax
import pytest


@pytest.fixture(autouse=True, scope="module")
def float64():
    """The oracles compare to 1e-10: float64 for every test in tests/rtrl, restored afterwards."""
    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)
