"""skill-rl: robot skill learning on MuJoCo tabletop worlds, from skill discovery to execution on an arm.

Importing this package is cheap on purpose: no torch, mujoco, gymnasium or rclpy, no I/O. Import the
subpackages you need (``skill_rl.envs``, ``skill_rl.hardware``, ...); see ARCHITECTURE.md for who may
import whom.
"""

__version__ = "0.1.0"
