"""Arm backends, picked by name: ``make_backend("fake")``, ``make_backend("mujoco", clock=...)``.

Entries are ``"module:Class"`` strings resolved on first use, so listing or looking up names imports no
simulator; each simulator backend imports its simulator only when the arm is configured. An unknown name
raises ``RegistryKeyError`` listing the names that exist.
"""

from __future__ import annotations

import importlib
from typing import Any

from skill_rl.registry import Registry

from ..hal import ArmHAL

__all__ = ["BACKENDS", "backend_class", "backend_names", "make_backend", "register_backend"]

BACKENDS: Registry[str | type[ArmHAL]] = Registry("arm backend")
BACKENDS.add("fake", "skill_rl.hardware.backends.fake:FakeArm")
BACKENDS.add("mujoco", "skill_rl.hardware.backends.mujoco:MujocoArm")
BACKENDS.add("pybullet", "skill_rl.hardware.backends.pybullet:PybulletArm")
BACKENDS.add("ros2", "skill_rl.hardware.backends.ros2:Ros2Arm")  # a ROS 2 driver's topics; rclpy at configure()


def register_backend(name: str, target: str | type[ArmHAL], *, overwrite: bool = False) -> None:
    """Add a backend: an ``ArmHAL`` subclass or a lazy ``"package.module:Class"`` string."""
    BACKENDS.add(name, target, overwrite=overwrite)


def backend_names() -> list[str]:
    return BACKENDS.names()


def backend_class(name: str) -> type[ArmHAL]:
    """The ``ArmHAL`` subclass registered as ``name`` (imports its module, not its simulator)."""
    target = BACKENDS.get(name)
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    if not (isinstance(target, type) and issubclass(target, ArmHAL)):
        raise TypeError(f"arm backend {name!r} is {target!r}, not an ArmHAL subclass")
    return target


def make_backend(name: str, **kwargs: Any) -> ArmHAL:
    """Construct the backend ``name`` (UNCONFIGURED) with ``kwargs`` (description, safety, clock, ...)."""
    return backend_class(name)(**kwargs)
