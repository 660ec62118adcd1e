"""The skill_interfaces package (hardware/ros_interfaces/skill_interfaces): built, importable, and the
codes every part of the stack relies on."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests._extras import require  # noqa: E402

require("rclpy", extra="ros")

from skill_rl.ros import task_executor  # noqa: E402
from skill_rl.ros.env import ensure_interfaces, interfaces_prefix  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_build_script_is_idempotent_and_reports_the_prefix():
    out = subprocess.run(["bash", str(ROOT / "scripts" / "build_ros_interfaces.sh")], capture_output=True, text=True,
                         timeout=600, check=True).stdout
    again = subprocess.run(["bash", str(ROOT / "scripts" / "build_ros_interfaces.sh")], capture_output=True, text=True,
                           timeout=600, check=True).stdout
    assert "up to date" in again, again
    assert str(interfaces_prefix()) in out
    for node in ("arm_hal", "skill_server", "task_executor"):
        assert os.access(interfaces_prefix() / "lib" / "skill_rl" / node, os.X_OK)


def test_action_definitions_and_result_codes():
    ensure_interfaces()
    from skill_interfaces.action import ExecuteSkill, RunTask

    R = ExecuteSkill.Result
    codes = {name: getattr(R, name) for name in ("SUCCESS", "TIMEOUT", "CANCELED", "FAULT", "UNKNOWN_SKILL", "REJECTED",
                                                 "BAD_PARAMS", "FAILED")}
    assert codes["SUCCESS"] == 0 and len(set(codes.values())) == len(codes)
    # task_executor mirrors them without importing ROS
    assert {name: getattr(task_executor, name) for name in codes} == codes
    goal = ExecuteSkill.Goal(skill="pick_place", params='{"place_xy": [0, 0]}', timeout=5.0)
    assert (goal.skill, goal.timeout) == ("pick_place", 5.0)
    fb = ExecuteSkill.Feedback(progress=0.5, phase="carry")
    assert fb.phase == "carry"
    assert set(RunTask.Result.get_fields_and_field_types()) == {"error_code", "failed_step", "message"}
    assert set(RunTask.Feedback.get_fields_and_field_types()) == {"step", "skill", "progress", "phase"}
