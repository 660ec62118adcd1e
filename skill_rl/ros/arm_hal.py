"""``arm_hal``: a ROS 2 lifecycle node that owns one arm (an ``ArmHAL`` backend behind its SafetyFilter).

Run: ``python -m skill_rl.ros.arm_hal --ros-args --params-file launch/sim.yaml``.

Lifecycle (``~/change_state``, or ``autostart: true`` to configure and activate at start): configure ->
``hal.configure()`` (connect, start the loop), activate -> ``hal.activate()`` (seed the setpoint from the
measured state, soft start), deactivate -> ``hal.deactivate()``, cleanup -> ``hal.cleanup()``, shutdown ->
``hal.shutdown()``. A latched HAL FAULT does not change the lifecycle state; ``~/reset_fault`` clears it
and, when the node is active, re-activates the HAL (re-seeded, no jump).

Loop (a timer at ``rate_hz``, default the robot description's nominal rate, 100 Hz for the Panda):
``hal.read()`` -> ``hal.write(newest command or None)`` -> publish. The SafetyFilter inside ``write``
does the rest: limits, rate limits, watchdog (no fresh command for ``safety.watchdog_timeout_s``:
decelerate to a stop and hold), NaN -> FAULT, and so on (``skill_rl.hardware.safety``).

Interfaces (names relative to the node: ``~/x`` is ``/arm_hal/x``):

- sub ``~/joint_command`` (param ``command_topic``), ``trajectory_msgs/JointTrajectory``: exactly one point
  whose ``positions`` are the joint position target, rad, for ``joint_names`` (empty, or the robot's
  joint names in order; other names fault COMMAND_MISMATCH). Stamped on receipt with the HAL's monotonic
  clock (sender clocks are never trusted); ``header.stamp`` and ``time_from_start`` are ignored. A
  trajectory with **no points** means stop: decelerate within the acceleration limits and hold (JTC's
  empty-trajectory convention; on the same topic, so it is ordered after the commands before it). More
  than one point: dropped, counted in diagnostics. Non-finite values: rejected, FAULT latched.
- sub ``~/gripper_command``, ``std_msgs/Float64MultiArray``: ``[width_m]`` or ``[width_m, speed_m_s,
  force_n]``; applied while ACTIVE (the gripper is not behind the joint filter; values are clamped to the
  gripper's ranges).
- pub ``/joint_states`` (param ``joint_states_topic``), ``sensor_msgs/JointState``: the arm's joints (rad,
  rad/s, N*m) plus, with a gripper, ``<robot>_finger_joint1/2`` (each finger's opening, m); header stamp
  = ROS time of the reading. Published every cycle in INACTIVE, ACTIVE and FAULT.
- pub ``~/state``, ``std_msgs/String`` (latched, on every change and at ``diagnostics_rate_hz``): JSON
  ``{"state": "ACTIVE", "lifecycle": "active", "fault": null | "ESTOP: ...", "fault_code": null |
  "estop", "motion": "track", "robot": "panda", "backend": "mujoco", "joint_names": [...]}``.
- pub ``/diagnostics``, ``diagnostic_msgs/DiagnosticArray`` at ``diagnostics_rate_hz`` and on state
  changes: the HAL state, the fault, the last ``FilterReport`` (clamps, watchdog, speed scale, tracking
  error), loop statistics.
- pub ``/scene_state`` (only with the simulated scene world, ``task`` set), ``std_msgs/String``: JSON of
  ``TabletopSceneArm.scene_state()`` (the task env's observation vector and layout, object poses, the
  simulation's success predicate) at ``scene_rate_hz``: the simulated perception stream.
- srv ``~/estop``, ``~/reset_fault``, ``~/stop`` (``std_srvs/Trigger``): latch FAULT (ESTOP) and hold; clear
  a fault (and re-activate); decelerate to a stop and hold (no fault).

Parameters: ``backend`` (fake | mujoco | pybullet | ros2), ``robot`` (description name or path),
``rate_hz``, ``task`` (mujoco only: tabletop env id whose scene is the arm's world; "" for the bare arm),
``seed``, ``autostart``, topic names, ``safety.<key>`` (SafetyConfig overrides), ``backend_args.<key>``
(extra backend constructor arguments, e.g. the ros2 backend's topics).
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from typing import Any

import numpy as np

from skill_rl.hardware import (
    HalFaultError,
    HalState,
    HalStateError,
    JointPositionCommand,
    load_description,
    make_backend,
)
from skill_rl.hardware.backends import backend_class

from .env import isolate_dds

__all__ = ["ArmHalNode", "main"]  # noqa: F822 - ArmHalNode is built lazily (module __getattr__)

PARAMS: dict[str, Any] = {
    "backend": "mujoco",
    "robot": "panda",
    "rate_hz": 0.0,  # 0: the description's nominal rate
    "task": "",  # mujoco backend: tabletop env id whose scene is the arm's world
    "seed": 0,
    "autostart": True,
    "command_topic": "~/joint_command",
    "gripper_command_topic": "~/gripper_command",
    "joint_states_topic": "/joint_states",
    "scene_state_topic": "/scene_state",
    "scene_rate_hz": 20.0,
    "diagnostics_rate_hz": 2.0,
}


def _make_node_class():
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray, String
    from std_srvs.srv import Trigger
    from trajectory_msgs.msg import JointTrajectory

    from ._common import COMMANDS, LATCHED, STREAM, diagnostics_msg, joint_state_msg, json_dumps

    OK, WARN, ERROR = 0, 1, 2

    class ArmHalNode(LifecycleNode):
        """See the module docstring."""

        def __init__(self, node_name: str = "arm_hal", **kwargs: Any):
            super().__init__(node_name, allow_undeclared_parameters=True,
                             automatically_declare_parameters_from_overrides=True, **kwargs)
            for name, default in PARAMS.items():
                if not self.has_parameter(name):
                    self.declare_parameter(name, default)
            self.hal = None
            self.exit_code = 0
            self._lifecycle = "unconfigured"
            self._command: JointPositionCommand | None = None
            self._stop_requested = False
            self._cmd_lock = threading.Lock()
            self._timer = None
            self._cycle = 0
            self._last_state_json = ""
            self._fault_logged = False
            self._dropped = 0
            self._received = 0
            self._loop_dt_max = 0.0
            self._last_cycle_t: float | None = None
            self._names: tuple[str, ...] = ()
            self._finger_names: tuple[str, ...] = ()
            p = self.p
            self.pub_joints = self.create_publisher(JointState, p("joint_states_topic"), STREAM)
            self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", STREAM)
            self.pub_state = self.create_publisher(String, "~/state", LATCHED)
            self.pub_scene = self.create_publisher(String, p("scene_state_topic"), STREAM) if p("task") else None
            self.create_subscription(JointTrajectory, p("command_topic"), self._on_command, COMMANDS)
            self.create_subscription(Float64MultiArray, p("gripper_command_topic"), self._on_gripper, COMMANDS)
            self.create_service(Trigger, "~/estop", self._srv_estop)
            self.create_service(Trigger, "~/reset_fault", self._srv_reset)
            self.create_service(Trigger, "~/stop", self._srv_stop)
            self._publish_state(force=True)

        def p(self, name: str) -> Any:
            return self.get_parameter(name).value

        # -------------------------------------------------------- lifecycle callbacks
        def _build_hal(self):
            description = load_description(self.p("robot"))
            rate = float(self.p("rate_hz"))
            if rate > 0 and abs(rate - description.nominal_rate_hz) > 1e-9:
                description = dataclasses.replace(description, nominal_rate_hz=rate)
            safety = {k: v.value for k, v in self.get_parameters_by_prefix("safety").items()}
            args = {k: v.value for k, v in self.get_parameters_by_prefix("backend_args").items()}
            backend = self.p("backend")
            if backend == "mujoco" and self.p("task"):
                from .scene import TabletopSceneArm

                return TabletopSceneArm(description, task=self.p("task"), seed=int(self.p("seed")), safety=safety or None,
                                        auto_step=True, **args)
            from skill_rl.hardware.backends._sim import SimulatedArm

            if issubclass(backend_class(backend), SimulatedArm):
                args.setdefault("auto_step", True)  # the physics follows the wall clock
            return make_backend(backend, description=description, safety=safety or None, **args)

        def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
            try:
                self.hal = self._build_hal()
                self.hal.configure()
            except Exception as e:  # noqa: BLE001 - a failed transition reports, never crashes the node
                self.get_logger().error(f"configure failed: {e}")
                self.hal = None
                return TransitionCallbackReturn.FAILURE
            self._names = tuple(self.hal.joint_names)
            robot = self.hal.description.name
            self._finger_names = (f"{robot}_finger_joint1", f"{robot}_finger_joint2") if self.hal.gripper else ()
            self._timer = self.create_timer(self.hal.description.period, self._loop)
            self._lifecycle = "inactive"
            self.get_logger().info(
                f"configured {self.hal!r}: loop {self.hal.description.nominal_rate_hz:g} Hz, commands on "
                f"{self.resolve_topic_name(self.p('command_topic'))}")
            self._publish_state(force=True)
            return TransitionCallbackReturn.SUCCESS

        def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
            if self.hal is None:
                return TransitionCallbackReturn.FAILURE
            if self.hal.state is HalState.FAULT:
                self.get_logger().error(f"cannot activate: FAULT latched ({self.hal.fault}); call ~/reset_fault")
                return TransitionCallbackReturn.FAILURE
            try:
                with self._cmd_lock:
                    self._command = None
                    self._stop_requested = False
                self.hal.activate()
            except Exception as e:  # noqa: BLE001
                self.get_logger().error(f"activate failed: {e}")
                return TransitionCallbackReturn.FAILURE
            self._lifecycle = "active"
            self._fault_logged = False
            self._publish_state(force=True)
            return super().on_activate(state)

        def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
            if self.hal is not None and self.hal.state is HalState.ACTIVE:
                self.hal.deactivate()
            self._lifecycle = "inactive"
            self._publish_state(force=True)
            return super().on_deactivate(state)

        def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
            if self.hal is not None:
                if self.hal.state is HalState.FAULT:
                    self.get_logger().error(f"cannot clean up with a FAULT latched ({self.hal.fault}); call ~/reset_fault")
                    return TransitionCallbackReturn.FAILURE
                self._stop_loop()
                self.hal.cleanup()
                self.hal = None
            self._lifecycle = "unconfigured"
            self._publish_state(force=True)
            return TransitionCallbackReturn.SUCCESS

        def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
            self.close()
            self._lifecycle = "finalized"
            self._publish_state(force=True)
            return TransitionCallbackReturn.SUCCESS

        def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
            if self.hal is not None and self.hal.state is not HalState.FINALIZED:
                self.hal.estop("lifecycle on_error")
            return TransitionCallbackReturn.SUCCESS

        def _stop_loop(self) -> None:
            if self._timer is not None:
                self.destroy_timer(self._timer)
                self._timer = None

        def close(self) -> None:
            """Stop the loop and shut the HAL down (hold, disconnect); safe to call twice."""
            self._stop_loop()
            if self.hal is not None and self.hal.state is not HalState.FINALIZED:
                try:
                    self.hal.shutdown()
                except Exception as e:  # noqa: BLE001
                    self.get_logger().warning(f"HAL shutdown: {e}")

        # -------------------------------------------------------- inputs
        def _on_command(self, msg) -> None:
            hal = self.hal
            if hal is None:
                return
            stamp = hal.clock()
            self._received += 1
            if len(msg.points) == 0:
                with self._cmd_lock:
                    self._command = None
                    self._stop_requested = True
                return
            if len(msg.points) != 1:
                self._dropped += 1
                self.get_logger().warning(
                    f"dropped a JointTrajectory with {len(msg.points)} points: send exactly one point (the target) "
                    f"or none (stop)", throttle_duration_sec=2.0)
                return
            names = tuple(msg.joint_names) or None
            cmd = JointPositionCommand(np.asarray(msg.points[0].positions, dtype=np.float64), stamp, names)
            with self._cmd_lock:
                self._command = cmd
                self._stop_requested = False

        def _on_gripper(self, msg) -> None:
            hal = self.hal
            data = list(msg.data)
            if hal is None or hal.gripper is None or hal.state is not HalState.ACTIVE:
                self.get_logger().warning("gripper command ignored: the arm is not ACTIVE (or has no gripper)",
                                          throttle_duration_sec=2.0)
                return
            if not 1 <= len(data) <= 3:
                self.get_logger().warning(f"gripper command needs [width_m] or [width_m, speed_m_s, force_n], got {data}",
                                          throttle_duration_sec=2.0)
                return
            try:
                hal.gripper.command(*data)
            except Exception as e:  # noqa: BLE001 - invalid values or a state change: report, keep going
                self.get_logger().warning(f"gripper command {data} refused: {e}", throttle_duration_sec=2.0)

        # -------------------------------------------------------- services
        def _srv_estop(self, request, response):
            if self.hal is None or self.hal.state is HalState.FINALIZED:
                response.success, response.message = False, "no arm configured"
                return response
            self.hal.estop("estop service called")
            self.get_logger().error(f"E-STOP: FAULT latched ({self.hal.fault})")
            self._publish_state(force=True)
            response.success, response.message = True, str(self.hal.fault)
            return response

        def _srv_reset(self, request, response):
            hal = self.hal
            if hal is None or hal.state is not HalState.FAULT:
                response.success = False
                response.message = f"no fault latched (arm {hal.state.name if hal else 'not configured'})"
                return response
            old = str(hal.fault)
            hal.reset()
            with self._cmd_lock:
                self._command = None
                self._stop_requested = False
            message = f"cleared {old}"
            if self._lifecycle == "active":
                try:
                    hal.activate()
                    message += "; re-activated (setpoint seeded from the measured state)"
                except Exception as e:  # noqa: BLE001
                    response.success, response.message = False, f"{message}; re-activation failed: {e}"
                    self._publish_state(force=True)
                    return response
            self._fault_logged = False
            self.get_logger().info(message)
            self._publish_state(force=True)
            response.success, response.message = True, message
            return response

        def _srv_stop(self, request, response):
            if self.hal is None or self.hal.state is not HalState.ACTIVE:
                response.success = False
                response.message = f"arm not ACTIVE ({self.hal.state.name if self.hal else 'not configured'})"
                return response
            with self._cmd_lock:
                self._command = None
                self._stop_requested = True
            response.success, response.message = True, "decelerating to a stop"
            return response

        # -------------------------------------------------------- the loop
        def _loop(self) -> None:
            hal = self.hal
            if hal is None or hal.state in (HalState.UNCONFIGURED, HalState.FINALIZED):
                return
            now = time.monotonic()
            if self._last_cycle_t is not None:
                self._loop_dt_max = max(self._loop_dt_max, now - self._last_cycle_t)
            self._last_cycle_t = now
            self._cycle += 1
            try:
                state = hal.read()
            except HalFaultError:
                state = None  # the arm cannot be read (FAULT latched): publish no stale joint states
            if hal.state is HalState.ACTIVE:
                with self._cmd_lock:
                    cmd, self._command = self._command, None
                    stop, self._stop_requested = self._stop_requested, False
                if stop:
                    hal.stop()
                try:
                    hal.write(cmd)
                except HalFaultError as e:
                    self._log_fault(e.fault)
                except HalStateError:
                    pass
            elif hal.state is HalState.FAULT:
                self._log_fault(hal.fault)
            stamp = self.get_clock().now().to_msg()
            if state is not None:
                self._publish_joints(stamp, state)
            changed = self._publish_state()
            diag_every = max(1, int(round(hal.description.nominal_rate_hz / max(float(self.p("diagnostics_rate_hz")), 1e-3))))
            if changed or self._cycle % diag_every == 0:
                self._publish_diagnostics(stamp)
                if not changed:
                    self._publish_state(force=True)
            if self.pub_scene is not None and hasattr(hal, "scene_state"):
                every = max(1, int(round(hal.description.nominal_rate_hz / max(float(self.p("scene_rate_hz")), 1e-3))))
                if self._cycle % every == 0:
                    from std_msgs.msg import String

                    self.pub_scene.publish(String(data=json_dumps(hal.scene_state())))

        def _log_fault(self, fault) -> None:
            if not self._fault_logged:
                self._fault_logged = True
                self.get_logger().error(f"FAULT latched: {fault}; the arm holds until ~/reset_fault")

        def _publish_joints(self, stamp, state) -> None:
            names, pos, vel, eff = list(self._names), list(state.position), list(state.velocity), list(state.effort)
            if self._finger_names:
                width = self.hal.gripper.read()
                names += list(self._finger_names)
                pos += [width / 2.0, width / 2.0]
                vel += [0.0, 0.0]
                eff += [0.0, 0.0]
            self.pub_joints.publish(joint_state_msg(stamp, names, pos, vel, eff))

        def state_dict(self) -> dict[str, Any]:
            hal = self.hal
            fault = hal.fault if hal is not None else None
            report = hal.last_report if hal is not None else None
            return {
                "state": hal.state.name if hal is not None else "UNCONFIGURED",
                "lifecycle": self._lifecycle,
                "fault": str(fault) if fault else None,
                "fault_code": fault.code.value if fault else None,
                "motion": report.motion.value if report is not None else "hold",
                "robot": hal.description.name if hal is not None else self.p("robot"),
                "backend": self.p("backend"),
                "joint_names": list(self._names),
            }

        def _publish_state(self, force: bool = False) -> bool:
            from std_msgs.msg import String

            d = self.state_dict()
            key = json_dumps({k: d[k] for k in ("state", "lifecycle", "fault")})
            if not force and key == self._last_state_json:
                return False
            self._last_state_json = key
            self.pub_state.publish(String(data=json_dumps(d)))
            return True

        def _publish_diagnostics(self, stamp) -> None:
            hal = self.hal
            d = self.state_dict()
            values = {"hal_state": d["state"], "lifecycle": d["lifecycle"], "backend": d["backend"],
                      "fault": d["fault"] or "", "fault_code": d["fault_code"] or "",
                      "commands_received": str(self._received), "commands_dropped": str(self._dropped),
                      "loop_rate_hz": f"{hal.description.nominal_rate_hz:g}",
                      "loop_max_period_s": f"{self._loop_dt_max:.4f}"}
            values.update({f"stats.{k}": str(v) for k, v in hal.stats.items()})
            report = hal.last_report
            if report is not None:
                values.update({f"filter.{k}": v for k, v in report.as_dict().items()})
            if hal.state is HalState.FAULT:
                level, message = ERROR, f"FAULT: {hal.fault}"
            elif hal.state is not HalState.ACTIVE:
                level, message = WARN, f"arm {hal.state.name}"
            elif report is not None and (report.watchdog or report.violations or report.rejected):
                level, message = WARN, report.summary()
            else:
                level, message = OK, report.summary() if report is not None else "active"
            self.pub_diag.publish(diagnostics_msg(stamp, f"{self.get_name()}: {hal.description.name}",
                                                  hal.description.name, level, message, values))
            self._loop_dt_max = 0.0

    return ArmHalNode


def __getattr__(name: str):
    if name == "ArmHalNode":  # built on first use, so importing this module does not import rclpy
        cls = _make_node_class()
        globals()["ArmHalNode"] = cls
        return cls
    raise AttributeError(name)


def main(args: list[str] | None = None) -> int:
    isolate_dds()
    from ._common import run_node

    def make():
        node = __getattr__("ArmHalNode")()
        if node.p("autostart"):
            from rclpy.lifecycle import TransitionCallbackReturn

            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise SystemExit(f"arm_hal: configure failed (backend {node.p('backend')!r}); see the log above")
            if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                raise SystemExit("arm_hal: activate failed; see the log above")
            node.get_logger().info(f"active: {node.hal!r}")
        return node

    return run_node(make, args=args)


if __name__ == "__main__":
    sys.exit(main())
