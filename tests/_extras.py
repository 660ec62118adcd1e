"""Optional-dependency guards for tests: skip when an extra is missing, fail when it was asked for.

A test that needs an optional extra (``pip install -e '.[ros]'``...) calls ``require(module, extra=...)``
(at module level or in the test) instead of ``pytest.importorskip``. By default a missing module skips,
so a partial install (``SKILL_RL_EXTRAS=sim bash scripts/setup.sh``) still runs the rest. With the
environment variable ``SKILL_RL_REQUIRE_EXTRAS`` naming the extra, a missing module is a test failure that
says what to install, so a broken install cannot turn CI green by skipping whole areas:

    SKILL_RL_REQUIRE_EXTRAS=all              every extra below (what .ci/run sets; setup.sh installs them all)
    SKILL_RL_REQUIRE_EXTRAS=ros,learn        only these
    SKILL_RL_REQUIRE_EXTRAS= (unset, or 0)   none: missing extras skip

``missing(what, extra)`` does the same for a requirement that is not a module (an OpenGL backend).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest

VAR = "SKILL_RL_REQUIRE_EXTRAS"

#: extra -> how to get it. The first six are pyproject.toml's optional dependencies; ``render`` is MuJoCo's
#: offscreen OpenGL (libOSMesa on a headless machine), which scripts/setup.sh installs with apt.
EXTRAS = {
    "sim": "pip install -e '.[sim]'",
    "learn": "pip install -e '.[learn]'",
    "ros": "pip install -e '.[ros]' && bash scripts/build_ros_interfaces.sh",
    "libero": "pip install -e '.[libero]'",
    "dist": "pip install -e '.[dist]'",
    "robomimic": "pip install -e '.[robomimic]'",
    "render": "apt-get install libosmesa6 and set MUJOCO_GL=osmesa (or egl on a GPU)",
}


def required_extras(value: str | None = None) -> frozenset[str]:
    """The extras ``SKILL_RL_REQUIRE_EXTRAS`` (or ``value``) asks for; an unknown name is a usage error,
    so a typo cannot silently require nothing."""
    raw = (os.environ.get(VAR, "") if value is None else value).strip()
    if raw in ("", "0"):
        return frozenset()
    if raw in ("1", "all"):
        return frozenset(EXTRAS)
    names = {n.strip() for n in raw.split(",") if n.strip()}
    unknown = sorted(names - set(EXTRAS))
    if unknown:
        raise pytest.UsageError(f"{VAR}={raw!r}: unknown extra(s) {', '.join(unknown)}; "
                                f"use 'all' or a comma-separated list of {', '.join(EXTRAS)}")
    return frozenset(names)


def missing(what: str, extra: str) -> NoReturn:
    """``what`` is not available here: fail if ``extra`` is required, else skip (the whole module when
    called at import time)."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}")
    message = f"{what}: needs the {extra} extra ({EXTRAS[extra]})"
    if extra in required_extras():
        pytest.fail(f"{message}; {VAR}={os.environ[VAR]} requires it", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require(module: str, extra: str) -> ModuleType:
    """``import module``, or skip/fail as :func:`missing` says when it is not importable (any ImportError:
    a broken ROS install raises one for a missing shared library, not only ModuleNotFoundError)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing(f"{module} is not importable ({type(exc).__name__}: {exc})", extra)
