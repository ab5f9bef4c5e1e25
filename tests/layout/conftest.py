"""What the layout tests need of the machine: nginx, which CI installs (`.ci/run`)."""

import pytest

from services.up import LayoutError, nginx_binary


@pytest.fixture(scope="session")
def nginx() -> str:
    """The nginx executable; without one the test fails (never skips) saying how to get it."""
    try:
        return nginx_binary()
    except LayoutError as missing:
        pytest.fail(f"{missing} (CI's .ci/run installs it)")
