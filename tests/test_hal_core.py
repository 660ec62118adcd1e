"""HAL core: lifecycle table and errors, final methods, the backend registry, import hygiene."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from skill_rl.errors import RegistryKeyError
from skill_rl.hardware import (
    ArmHAL,
    FaultCode,
    HalError,
    HalFaultError,
    HalState,
    HalStateError,
    JointPositionCommand,
    JointState,
    ManualClock,
    allowed_transitions,
    backend_names,
    make_backend,
)
from skill_rl.hardware.backends import backend_class
from skill_rl.hardware.backends.fake import FakeArm


def test_allowed_transitions_follow_the_managed_node_table():
    assert allowed_transitions(HalState.UNCONFIGURED) == ("configure", "shutdown")
    assert allowed_transitions(HalState.INACTIVE) == ("activate", "cleanup", "shutdown")
    assert allowed_transitions(HalState.ACTIVE) == ("deactivate", "shutdown")
    assert allowed_transitions(HalState.FAULT) == ("shutdown", "reset")
    assert allowed_transitions(HalState.FINALIZED) == ()
    assert HalState.FAULT.value == 15  # lifecycle_msgs ERRORPROCESSING, for a ROS 2 wrapper


def test_invalid_transition_error_names_state_and_allowed_transitions():
    arm = make_backend("fake")
    with pytest.raises(HalStateError) as info:
        arm.deactivate()
    err = info.value
    assert err.state is HalState.UNCONFIGURED and err.allowed == ("configure", "shutdown")
    assert "cannot deactivate() fake arm in state UNCONFIGURED; allowed from UNCONFIGURED: configure(), shutdown()" in str(err)
    arm.configure()
    arm.estop()
    with pytest.raises(HalStateError, match=r"in state FAULT; allowed from FAULT: shutdown\(\), reset\(\)"):
        arm.activate()


def test_estop_before_configure_resets_to_unconfigured():
    arm = make_backend("fake")
    arm.estop("operator pressed the button")
    assert arm.state is HalState.FAULT and arm.fault.message == "operator pressed the button"
    arm.reset()
    assert arm.state is HalState.UNCONFIGURED


def test_first_fault_stays_latched():
    clock = ManualClock()
    arm = make_backend("fake", clock=clock)
    arm.configure()
    arm.activate()
    arm.fail_next_reads(10)
    with pytest.raises(HalFaultError):
        arm.read()
    arm.estop()
    assert arm.fault.code is FaultCode.READ_FAILURE and arm.stats["faults"] == 1


def test_backends_cannot_bypass_the_filter_or_the_lifecycle():
    with pytest.raises(TypeError, match="overrides write of ArmHAL"):
        class Sneaky(FakeArm):  # noqa: F841
            def write(self, cmd=None):
                return cmd
    with pytest.raises(TypeError, match="overrides activate, read of ArmHAL"):
        class Sneakier(ArmHAL):  # noqa: F841
            def activate(self):
                pass

            def read(self):
                pass


def test_failing_backend_hooks_leave_a_clear_state():
    class Broken(FakeArm):
        def _on_configure(self):
            raise OSError("no route to host 172.16.0.2")

    arm = Broken()
    with pytest.raises(HalError, match="configure.*still UNCONFIGURED.*no route to host"):
        arm.configure()
    assert arm.state is HalState.UNCONFIGURED

    class BadWrite(FakeArm):
        def _write_hw(self, positions, velocities):
            raise ConnectionResetError("socket closed")

    clock = ManualClock()
    arm = BadWrite(clock=clock)
    arm.configure()
    arm.activate()
    clock.advance(0.01)
    arm.read()
    with pytest.raises(HalFaultError, match="socket closed"):
        arm.write(None)
    assert arm.fault.code is FaultCode.WRITE_FAILURE


def test_backend_returning_the_wrong_shape_faults():
    class Short(FakeArm):
        def _read_sim(self):
            q, v, e = super()._read_sim()
            return q[:6], v, e

    arm = Short()
    arm.configure()
    with pytest.raises(HalFaultError, match=r"position of shape \(6,\)"):
        arm.read()
    assert arm.fault.code is FaultCode.STATE_MISMATCH


def test_write_needs_a_reading_first():
    arm = make_backend("fake")
    arm.configure()
    arm.activate()  # reads once
    arm._last_state = None
    with pytest.raises(HalFaultError, match="read"):
        arm.write(JointPositionCommand(np.zeros(7), 0.0))


def test_registry_lists_names_on_unknown_backend():
    assert backend_names() == ["fake", "mujoco", "pybullet", "ros2"]
    with pytest.raises(RegistryKeyError, match=r"unknown arm backend 'mujuco' \(did you mean 'mujoco'\?\); available: fake, mujoco, pybullet, ros2"):
        make_backend("mujuco")
    for name in backend_names():
        cls = backend_class(name)
        assert issubclass(cls, ArmHAL) and cls.backend_name == name


def test_joint_state_and_commands_are_typed_copies():
    q = np.zeros(7)
    cmd = JointPositionCommand(q, 1.0)
    q[0] = 5.0
    assert cmd.positions[0] == 0.0 and not cmd.positions.flags.writeable
    with pytest.raises(ValueError, match="1-D"):
        JointPositionCommand(np.zeros((7, 1)), 1.0)
    s = JointState(1.0, ("a",), [1], [2], [3])
    assert s.position.dtype == np.float64


def loaded_after(statement: str, modules: list[str]) -> list[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps([m for m in {modules!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_hardware_core_imports_no_simulator_ros_or_learning_code():
    heavy = ["mujoco", "pybullet", "gymnasium", "torch", "rclpy", "robosuite", "skill_rl.envs"]
    statement = (
        "import skill_rl.hardware, skill_rl.hardware.hal, skill_rl.hardware.safety, skill_rl.hardware.description, "
        "skill_rl.hardware.backends.fake, skill_rl.hardware.backends.mujoco, skill_rl.hardware.backends.pybullet, "
        "skill_rl.hardware.testing\n"
        "a = skill_rl.hardware.make_backend('fake'); a.configure(); a.activate(); a.read()"
    )
    assert loaded_after(statement, heavy) == []


def test_estop_from_another_thread_stops_the_control_loop():
    import threading
    import time

    arm = make_backend("fake", auto_step=True, safety={"soft_start_s": 0.05})
    arm.configure()
    arm.activate()
    outcome: list[BaseException] = []

    def loop():  # a 200 Hz control loop on the real monotonic clock, as a ROS timer would run it
        try:
            q = arm.read().position
            while True:
                arm.read()
                arm.write(JointPositionCommand(q + 0.1, time.monotonic()))
                time.sleep(0.005)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            outcome.append(e)

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    time.sleep(0.1)
    arm.estop("service call")
    sent_at_estop = arm.sent_total
    worker.join(timeout=2)
    assert not worker.is_alive()
    assert isinstance(outcome[0], HalFaultError) and arm.fault.code is FaultCode.ESTOP
    assert arm.sent_total == sent_at_estop > 0  # not one setpoint after the e-stop
    arm.shutdown()
