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


@pytest.fixture(scope="module", autouse=True)
def ros_domain(request):
    """Each ROS test module (``tests/test_ros_*.py``) runs in a DDS domain of its own, leased for the module
    (``skill_rl.ros.testing.DomainLease``: ``ROS_DOMAIN_ID`` set in the environment while it runs), so that no
    node, probe or driver of another module or another test process on this machine can meet its graph.
    Other modules get None."""
    if not request.module.__name__.rpartition(".")[2].startswith("test_ros_"):
        yield None
        return
    from skill_rl.ros.testing import DomainLease

    with DomainLease() as lease:
        yield lease.domain_id
