"""The interface packages (hardware/ros_interfaces: skill_interfaces, the vendored tf2_msgs): built,
importable, the field layouts users and the nodes rely on, and the result codes."""

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


#: ExecuteSkill.Result's codes; RunTask.Result repeats them and adds NO_PLAN and BAD_TASK.
SKILL_CODES = {"SUCCESS": 0, "TIMEOUT": 1, "CANCELED": 2, "FAULT": 3, "UNKNOWN_SKILL": 4, "REJECTED": 5,
               "BAD_PARAMS": 6, "FAILED": 7, "STALE_PERCEPTION": 8, "ARM_INACTIVE": 9}
TASK_CODES = {**SKILL_CODES, "NO_PLAN": 10, "BAD_TASK": 11}


def _fields(cls) -> dict[str, str]:
    return dict(cls.get_fields_and_field_types())


def test_action_definitions_and_result_codes():
    ensure_interfaces()
    from skill_interfaces.action import ExecuteSkill, RunTask

    assert {name: getattr(ExecuteSkill.Result, name) for name in SKILL_CODES} == SKILL_CODES
    assert {name: getattr(RunTask.Result, name) for name in TASK_CODES} == TASK_CODES
    # task_executor mirrors them without importing ROS
    assert task_executor.CODE_NAMES == {code: name for name, code in TASK_CODES.items()}
    assert _fields(ExecuteSkill.Goal) == {"skill": "string", "params": "sequence<skill_interfaces/SkillParam>",
                                          "timeout": "double"}
    assert _fields(ExecuteSkill.Result) == {
        "error_code": "int32", "message": "string", "objects": "sequence<skill_interfaces/ObjectState>",
        "steps": "int32", "duration_s": "double", "at_rest": "boolean"}
    assert _fields(ExecuteSkill.Feedback) == {"progress": "float", "phase": "string", "steps": "int32"}
    assert _fields(RunTask.Goal) == {"task": "string", "task_file": "string", "steps": "string"}
    assert _fields(RunTask.Result) == {"error_code": "int32", "failed_step": "int32", "message": "string",
                                       "plan": "sequence<string>", "replans": "int32", "steps_run": "int32",
                                       "control_steps": "int32"}
    assert _fields(RunTask.Feedback) == {"plan": "sequence<string>", "step": "int32", "skill": "string",
                                         "progress": "float", "phase": "string", "replans": "int32"}


def test_gripper_action_mirrors_control_msgs():
    """control_msgs/action/GripperCommand: goal ``command`` (control_msgs/GripperCommand: position, max_effort);
    result and feedback position, effort, stalled, reached_goal."""
    ensure_interfaces()
    from skill_interfaces.action import GripperCommand
    from skill_interfaces.msg import GripperCommand as GripperCommandMsg

    assert _fields(GripperCommand.Goal) == {"command": "skill_interfaces/GripperCommand"}
    assert _fields(GripperCommandMsg) == {"position": "double", "max_effort": "double"}
    state = {"position": "double", "effort": "double", "stalled": "boolean", "reached_goal": "boolean"}
    assert _fields(GripperCommand.Result) == state and _fields(GripperCommand.Feedback) == state


def test_message_and_service_definitions():
    ensure_interfaces()
    from skill_interfaces.msg import ArmState, ObjectState, ObjectStates, SkillParam, SkillServerStatus
    from skill_interfaces.srv import ClaimArm, ResetWorld

    assert [ArmState.UNCONFIGURED, ArmState.INACTIVE, ArmState.ACTIVE, ArmState.FAULT, ArmState.FINALIZED] == [
        "UNCONFIGURED", "INACTIVE", "ACTIVE", "FAULT", "FINALIZED"]
    assert _fields(ArmState) == {
        "header": "std_msgs/Header", "state": "string", "lifecycle": "string", "fault_code": "string", "fault": "string",
        "motion": "string", "owner": "string", "robot": "string", "backend": "string", "joint_names": "sequence<string>"}
    assert _fields(ObjectState) == {"name": "string", "kind": "string", "pose": "geometry_msgs/Pose", "opening": "double"}
    assert _fields(ObjectStates) == {"header": "std_msgs/Header", "source": "string",
                                     "objects": "sequence<skill_interfaces/ObjectState>"}
    assert _fields(SkillParam) == {"name": "string", "value": "sequence<double>", "text": "string"}
    assert _fields(SkillServerStatus) == {
        "header": "std_msgs/Header", "busy": "boolean", "skill": "string", "arm_state": "string", "arm_fault": "string",
        "library": "string", "skills": "sequence<string>", "last_rejection": "string"}
    assert _fields(ClaimArm.Request) == {"owner": "string", "release": "boolean"}
    assert _fields(ClaimArm.Response) == {"success": "boolean", "message": "string", "token": "string"}
    assert _fields(ResetWorld.Request) == {"seed": "int32"} and ResetWorld.Request().seed == 0
    assert _fields(ResetWorld.Response) == {"success": "boolean", "message": "string"}


def test_tf2_msgs_is_importable_for_tf():
    """/tf needs tf2_msgs/msg/TFMessage: a ROS install's, or the vendored copy the build script installs."""
    ensure_interfaces()
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage

    msg = TFMessage(transforms=[TransformStamped(child_frame_id="cube")])
    assert msg.transforms[0].child_frame_id == "cube"
