"""Shared rclpy helpers of the nodes: node entry points, message conversions, QoS, waiting on futures.

Imports rclpy: only the node modules import this (lazily, from their ``main`` or node classes).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.executors import ExternalShutdownException
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState as JointStateMsg

#: Latched state topics: the last message reaches late subscribers.
LATCHED = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
#: Commands: reliable, keep the last 50 (each is stamped on receipt; only the newest is applied). 50 holds
#: 0.1 s (the default command_max_age_s) of a 500 Hz stream: with depth 5, an executor stall of 10 ms made
#: the middleware overwrite commands before arm_hal saw them (counted as dropped in benchmarks/ros_latency.py).
COMMANDS = QoSProfile(depth=50, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
#: Streams (joint states, scene state): reliable, small queue.
STREAM = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)


def joint_state_msg(stamp, names: Sequence[str], position, velocity, effort) -> JointStateMsg:
    """sensor_msgs/JointState in SI units (rad, rad/s, N*m); ``stamp`` a builtin_interfaces/Time."""
    msg = JointStateMsg()
    msg.header.stamp = stamp
    msg.name = list(names)
    msg.position = [float(x) for x in position]
    msg.velocity = [float(x) for x in velocity]
    msg.effort = [float(x) for x in effort]
    return msg


def diagnostics_msg(stamp, name: str, hardware_id: str, level: int, message: str, values: dict[str, str]) -> DiagnosticArray:
    status = DiagnosticStatus(level=bytes([level]), name=name, message=message[:500], hardware_id=hardware_id,
                              values=[KeyValue(key=str(k), value=str(v)) for k, v in values.items()])
    arr = DiagnosticArray()
    arr.header.stamp = stamp
    arr.status = [status]
    return arr


def threaded_execute(execute: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """An ``ActionServer`` execute callback that runs ``execute(goal_handle)`` (a blocking control loop) in a
    thread of its own, while the node's single-threaded executor keeps serving subscriptions, timers (the
    heartbeat) and other requests.

    Why not a ``MultiThreadedExecutor``: in rclpy it spun a whole core while idle (the skill server 100 % CPU,
    the task executor 78 %, with 100 Hz joint states; 12-15 % single-threaded), which starved the skill
    server's heartbeat timer for 1-3 s and faulted the arm (HEARTBEAT) on loaded machines. The awaiting
    coroutine is resumed at the executor's next wake-up (every joint state, 10 ms)."""

    async def callback(goal_handle: Any) -> Any:
        from rclpy.task import Future

        done: Future = Future()

        def work() -> None:
            try:
                done.set_result(execute(goal_handle))
            except BaseException as e:  # noqa: BLE001 - handed to the awaiting coroutine
                done.set_exception(e)

        threading.Thread(target=work, name="goal", daemon=True).start()
        return await done

    return callback


def wait_future(future, timeout: float, poll: float = 0.005) -> bool:
    """Wait (polling; another thread spins the executor) until ``future`` is done or ``timeout`` s pass."""
    end = time.monotonic() + timeout
    while not future.done():
        if time.monotonic() > end:
            return False
        time.sleep(poll)
    return True


def json_dumps(value: Any) -> str:
    def default(o):
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, (np.floating, np.integer)):
            return o.item()
        return str(o)

    return json.dumps(value, default=default, separators=(",", ":"))


def stamp_s(stamp: Any) -> float:
    return stamp.sec + 1e-9 * stamp.nanosec


def perceived_state(joints: Any, objects: Any, arm_joints: list[str] | None = None) -> Any:
    """ROS perception (``/joint_states`` + ``/object_states``) as the library's
    :class:`~skill_rl.library.perception.PerceivedState` (quaternions back to MuJoCo's wxyz, in
    ``skill_rl.ros.description``, the one place that converts them)."""
    from skill_rl.library.perception import PerceivedObject, PerceivedState

    from .description import objects_from_msg, xyzw_to_wxyz

    pos = dict(zip(joints.name, joints.position, strict=False))
    vel = dict(zip(joints.name, joints.velocity, strict=False)) if len(joints.velocity) == len(joints.name) else {}
    names = arm_joints or [n for n in joints.name if "finger" not in n]
    objs = tuple(PerceivedObject(name=o.name, kind=o.kind, position=o.xyz, quat_wxyz=tuple(xyzw_to_wxyz(o.quat_xyzw)),
                                 opening=o.opening) for o in objects_from_msg(objects))
    return PerceivedState(joint_positions=tuple(pos[n] for n in names),
                          joint_velocities=tuple(vel.get(n, 0.0) for n in names),
                          finger_positions=tuple(pos[n] for n in joints.name if "finger" in n), objects=objs,
                          stamp=stamp_s(objects.header.stamp))


def run_node(make: Callable[[], Any], *, threads: int = 1, after_start: Callable[[Any], None] | None = None,
             args: Sequence[str] | None = None) -> int:
    """Entry point of a node process: init rclpy with ``args`` (``--ros-args ...``), build the node with
    ``make()``, spin until SIGINT/SIGTERM (rclpy's handlers shut the context down), then clean up
    (``node.close()`` when it has one). ``threads`` > 1 uses a MultiThreadedExecutor. Returns the exit
    code (``node.exit_code`` when the node sets one)."""
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

    rclpy.init(args=list(sys.argv if args is None else args))
    node = None
    code = 0
    try:
        node = make()
        executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
        executor.add_node(node)
        if after_start is not None:
            after_start(node)
        try:
            executor.spin()
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        code = int(getattr(node, "exit_code", 0) or 0)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as e:  # noqa: BLE001 - report, keep shutting down
                    print(f"[{getattr(node, 'get_name', lambda: '?')()}] error while closing: {e}", file=sys.stderr)
            try:
                node.destroy_node()
            except Exception:  # noqa: BLE001
                pass
        rclpy.try_shutdown()
    return code


def set_realtime_priority(priority: int, logger: Any) -> bool:
    """SCHED_FIFO ``priority`` for every thread of this process (the executor's and the DDS middleware's):
    on a busy machine a normally scheduled control loop gets the CPU late (docs/execution.md: a 500 Hz loop
    ran at ~250 Hz). Without the right (CAP_SYS_NICE, or an rtprio limit) it warns and returns False."""
    import os

    try:
        for tid in os.listdir("/proc/self/task"):
            try:
                os.sched_setscheduler(int(tid), os.SCHED_FIFO, os.sched_param(priority))
            except ProcessLookupError:
                pass  # the thread ended meanwhile
    except (OSError, AttributeError) as e:
        logger.warning(f"rt_priority {priority}: could not set SCHED_FIFO ({e}); running at normal priority "
                       f"(grant CAP_SYS_NICE or an rtprio limit)")
        return False
    logger.info(f"SCHED_FIFO priority {priority} for every thread")
    return True
