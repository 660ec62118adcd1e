"""Shared pytest fixtures."""

from __future__ import annotations

import pytest

from tests._extras import VAR, required_extras


def pytest_configure(config):
    required_extras()  # a typo in SKILL_RL_REQUIRE_EXTRAS stops the run here, before anything is skipped


def pytest_report_header(config):
    required = sorted(required_extras())
    return f"{VAR}: {', '.join(required) if required else 'none (a missing extra skips its tests)'}"


@pytest.fixture
def one_torch_thread():
    """One torch intra-op thread for the test: on a shared 2-core machine, intra-op threads fight the other
    processes (Ray workers, evaluation workers, other jobs) for the cores. Modules opt in with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
