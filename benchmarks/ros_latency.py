#!/usr/bin/env python
"""Control-loop timing of ``arm_hal`` (fake backend) and command latency sender -> backend over real DDS.

    python benchmarks/ros_latency.py             # 100 and 500 Hz: 60 s idle, 20 s under CPU load (~4 min)
    python benchmarks/ros_latency.py --quick     # 3 s per case (~30 s): a smoke run
    python benchmarks/ros_latency.py --write both --rt-priority 10 0     # what results/ros_latency.json holds (~14 min)

Two processes talk real rclpy (Fast DDS) on loopback (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, a
private ``ROS_DOMAIN_ID``):

* ``arm_hal`` (``python -m skill_rl.ros.arm_hal``, started as the launcher starts it) with the ``fake``
  backend behind the full HAL and SafetyFilter, its fixed-rate loop at ``rate_hz``, and its ``timing_log``
  parameter set: it records every loop cycle's start/end and, for every command, when it arrived and when
  ``hal.write`` returned after sending the filtered setpoint to the backend;
* this process, standing in for ``skill_server``: it publishes what the skill server publishes
  (``trajectory_msgs/JointTrajectory``, one point, same topic and QoS) at the loop rate, stamping
  ``header.stamp`` with ``time.time_ns()`` just before ``publish`` (so serialisation is counted). The
  target is a slow sine around the home posture, inside every limit, so the filter passes it unchanged.
  (The real skill server streams at its primitive's 20 Hz; a servo-rate stream is the hard case.)

Sender modes (``--sender``): ``timer`` (default) sends on its own absolute schedule, with a phase that
drifts against the loop's, as an independent process does; ``state`` sends one command per
``/joint_states`` message it receives, i.e. phase-locked to the loop as a closed-loop controller is.

Per case (rate x load): ``latency_ms`` = backend write time - send stamp, for every command that reached
the backend (that includes waiting for the next loop cycle: up to one period by design of a fixed-rate
loop); ``transport_ms`` = arrival in arm_hal's subscription callback - send stamp (DDS + executor: the
peer figure, measured side by side in the same run); ``queue_ms`` = backend write - arrival;
``dropped`` = sent but never received by arm_hal; ``superseded`` = received but replaced by a newer
command before a loop cycle took it (a fixed-rate loop applies only the newest); loop jitter = |cycle
period - nominal period| (p50, p99, max), ``late_cycles`` = periods longer than 1.5 nominal periods,
``compute_ms`` = time of one loop cycle's work. Under load: one busy-loop process per CPU core
(``os.cpu_count()``), at normal priority, for the whole case.

Write modes (``--write``): ``command`` (default: arm_hal's ``write_on_command``, the cycle's write runs when
its fresh command arrives) or ``cycle`` (written at the timer tick, as ros2_control does). Scheduling
(``--rt-priority N``): ``SCHED_FIFO`` N for arm_hal and the sender, every thread (``chrt -f -a -p``; root),
as a control process runs on a robot PC; 0 is normal scheduling. Several values of each run every one.

Writes ``benchmarks/results/ros_latency.json`` (atomically). Top-level keys: ``latency_p99_ms`` (500 Hz,
no load, the first write mode, sender and priority given), ``latency_p99_ms_under_load``,
``dropped_commands`` (same case, over its full duration), ``meets_target``, ``variants`` (500 Hz, each
write mode x priority), ``summary`` (a line per case) and every case in full under ``cases``.
``--resummarise FILE`` rebuilds the top-level keys from a file's cases (another headline order), measuring
nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from skill_rl.fileio import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ros_latency.json"
TARGET_P99_MS = 2.0
SOFT_START_S = 1.0  # the SafetyFilter's soft start (panda.yaml): commands are sent after it


def stats_ms(values_ns: np.ndarray) -> dict[str, float | int]:
    """p50/p90/p99/max/mean of nanosecond samples, in ms."""
    if values_ns.size == 0:
        return {"n": 0}
    v = values_ns.astype(np.float64) / 1e6
    return {"n": int(v.size), "p50": round(float(np.percentile(v, 50)), 4), "p90": round(float(np.percentile(v, 90)), 4),
            "p99": round(float(np.percentile(v, 99)), 4), "max": round(float(v.max()), 4), "mean": round(float(v.mean()), 4)}


def start_load(n: int) -> list[subprocess.Popen]:
    """``n`` busy-loop processes (one per core), normal priority."""
    def normal_policy() -> None:  # a busy loop at a real-time priority would freeze the machine
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))

    return [subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=normal_policy) for _ in range(n)]


def stop_load(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait(10)


class Sender:
    """The skill server's command publisher (same message, topic, QoS), in its own rclpy context."""

    def __init__(self, arm: str = "/arm_hal", phase_locked: bool = False):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import JointState
        from skill_interfaces.msg import ArmState
        from skill_interfaces.srv import ClaimArm
        from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

        from skill_rl.ros._common import COMMANDS, LATCHED, STREAM

        self.JointTrajectory, self.JointTrajectoryPoint = JointTrajectory, JointTrajectoryPoint
        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.node = rclpy.create_node("latency_sender", context=self.context)
        self.pub = self.node.create_publisher(JointTrajectory, f"{arm}/joint_command", COMMANDS)
        self.state: dict[str, Any] = {}
        self.node.create_subscription(ArmState, f"{arm}/state", self._on_state, LATCHED)
        self.claim_client = self.node.create_client(ClaimArm, f"{arm}/claim")
        self.ClaimArm = ClaimArm
        self.token = ""  # the arm's command token (arm_hal refuses commands from anyone but its owner)
        if phase_locked:  # (else no 500 Hz callbacks competing with the sending thread for the GIL)
            self.node.create_subscription(JointState, "/joint_states", self._on_joints, STREAM)
        self.names: list[str] = []
        self.sent: list[int] = []
        self.on_joint_state = None  # callable run on every /joint_states message (phase-locked mode)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - context shut down
            pass

    def _on_state(self, msg) -> None:
        self.state = {"state": msg.state, "fault": msg.fault or None, "owner": msg.owner}
        self.names = list(msg.joint_names)

    def _on_joints(self, msg) -> None:
        cb = self.on_joint_state
        if cb is not None:
            cb()

    def wait_active(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while self.state.get("state") != "ACTIVE" or self.pub.get_subscription_count() < 1:
            if time.monotonic() > end:
                raise RuntimeError(f"arm_hal not ACTIVE (or not subscribed) within {timeout:g} s: state {self.state}")
            time.sleep(0.02)
        if not self.claim_client.wait_for_service(timeout_sec=timeout):
            raise RuntimeError("arm_hal's ~/claim service is not available")
        future = self.claim_client.call_async(self.ClaimArm.Request(owner="/latency_sender"))
        end = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > end:
                raise RuntimeError("no answer from arm_hal's ~/claim")
            time.sleep(0.01)
        if not future.result().success:
            raise RuntimeError(f"could not claim the arm: {future.result().message}")
        self.token = future.result().token

    def send(self, q: np.ndarray) -> None:
        msg = self.JointTrajectory()
        msg.header.frame_id = self.token
        msg.joint_names = self.names
        msg.points = [self.JointTrajectoryPoint(positions=[float(x) for x in q])]
        t = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t, 1_000_000_000)
        self.pub.publish(msg)
        self.sent.append(t)

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(2.0)


def target(t: float, home: np.ndarray) -> np.ndarray:
    """A slow sine around home: 0.15 rad amplitude, 4 s period (<= 0.24 rad/s): no filter clamps."""
    return home + 0.15 * math.sin(2.0 * math.pi * t / 4.0) * np.array([1.0, 0.5, 1.0, 0.5, 1.0, 0.5, 1.0])


def set_rt_priority(pid: int, priority: int) -> None:
    """SCHED_FIFO ``priority`` for every thread of ``pid`` (the executor's and the DDS middleware's), as a
    real-time control process is run (``chrt -f -a -p``); needs CAP_SYS_NICE (root)."""
    subprocess.run(["chrt", "-f", "-a", "-p", str(priority), str(pid)], check=True, capture_output=True, timeout=30)


def run_case(rate_hz: float, load: bool, duration: float, sender_mode: str, write_mode: str, domain: int,
             workdir: Path, rt_priority: int = 0) -> dict[str, Any]:
    from skill_rl.hardware import load_description
    from skill_rl.ros.up import Graph

    home = np.array(load_description("panda").home)
    tag = f"{int(rate_hz)}hz_{'load' if load else 'idle'}_{sender_mode}_{write_mode}_rt{rt_priority}"
    log = workdir / f"timing_{tag}.npz"
    params = workdir / f"arm_hal_{tag}.yaml"
    params.write_text(json.dumps({"arm_hal": {"ros__parameters": {
        "backend": "fake", "robot": "panda", "rate_hz": float(rate_hz), "autostart": True,
        "diagnostics_rate_hz": 2.0, "timing_log": str(log), "write_on_command": write_mode == "command"}}}))
    graph = Graph(params, domain_id=domain, log_dir=workdir / f"logs_{tag}")
    sender = None
    loaders: list[subprocess.Popen] = []
    try:
        load_before = os.getloadavg()[0]
        graph.start()
        sender = Sender(phase_locked=sender_mode == "state")
        sender.wait_active(60.0)
        if load:
            loaders = start_load(os.cpu_count() or 1)
        if rt_priority:  # (after the busy loops start: they must never inherit a real-time policy)
            set_rt_priority(graph.procs["arm_hal"].pid, rt_priority)
            set_rt_priority(os.getpid(), rt_priority)
        time.sleep(SOFT_START_S + 0.2)
        t_begin_mono = time.monotonic_ns()
        t0 = time.monotonic()
        period = 1.0 / rate_hz
        if sender_mode == "timer":
            k = 0
            while True:
                due = t0 + k * period
                if due - t0 >= duration:
                    break
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                sender.send(target(time.monotonic() - t0, home))
                k += 1
        else:
            sender.on_joint_state = lambda: sender.send(target(time.monotonic() - t0, home))
            time.sleep(duration)
            sender.on_joint_state = None
        t_end_mono = time.monotonic_ns()
        time.sleep(0.3)  # the last commands reach the backend
        exited = graph.exited()
        if exited:
            raise RuntimeError(f"arm_hal exited early ({exited}); see {workdir}")
        state = dict(sender.state)
    finally:
        if rt_priority:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))  # (this thread; the rest end with the case)
        if loaders:
            stop_load(loaders)
        sent = list(sender.sent) if sender is not None else []
        if sender is not None:
            sender.close()
        graph.stop(grace=10.0)
    if not log.exists():
        raise RuntimeError(f"arm_hal wrote no timing log {log}; see {workdir}")
    data = np.load(log)
    starts, ends = data["cycle_start_ns"], data["cycle_end_ns"]
    recv, apply = data["recv"], data["apply"]
    window = (starts >= t_begin_mono) & (starts <= t_end_mono)
    s, e = starts[window], ends[window]
    nominal_ns = 1e9 / rate_hz
    periods = np.diff(s)
    sent_arr = np.array(sent, dtype=np.int64)
    recv_t = dict(zip(recv[:, 0].tolist(), recv[:, 1].tolist(), strict=True))
    apply_t = dict(zip(apply[:, 0].tolist(), apply[:, 1].tolist(), strict=True))
    got = np.array([o in recv_t for o in sent], dtype=bool)
    applied = np.array([o in apply_t for o in sent], dtype=bool)
    latency = np.array([apply_t[o] - o for o in sent if o in apply_t], dtype=np.int64)
    transport = np.array([recv_t[o] - o for o in sent if o in recv_t], dtype=np.int64)
    queue = np.array([apply_t[o] - recv_t[o] for o in sent if o in apply_t and o in recv_t], dtype=np.int64)
    window_s = (t_end_mono - t_begin_mono) / 1e9
    return {
        "rate_hz": rate_hz, "load": load, "load_processes": len(loaders), "sender": sender_mode, "write": write_mode,
        "rt_priority": rt_priority,
        "duration_s": round(window_s, 3),
        "sent": int(sent_arr.size), "received": int(got.sum()), "applied": int(applied.sum()),
        "dropped": int((~got).sum()), "superseded": int((got & ~applied).sum()),
        "dropped_index": np.flatnonzero(~got).tolist()[:20],
        "send_rate_hz": round(sent_arr.size / window_s, 2) if window_s > 0 else 0.0,
        "latency_ms": stats_ms(latency), "transport_ms": stats_ms(transport), "queue_ms": stats_ms(queue),
        "loop": {
            "cycles": int(s.size), "rate_hz": round(s.size / window_s, 2) if window_s > 0 else 0.0,
            "jitter_ms": stats_ms(np.abs(periods - nominal_ns)), "period_ms": stats_ms(periods),
            "late_cycles": int((periods > 1.5 * nominal_ns).sum()), "compute_ms": stats_ms(e - s),
        },
        "arm_state_at_end": state.get("state"), "fault_at_end": state.get("fault"),
        # The machine is shared: the 1-min load average before the case (our own processes excluded) and
        # after it (ours included) say how busy it was.
        "loadavg_1min_before": round(load_before, 2), "loadavg_1min_after": round(os.getloadavg()[0], 2),
    }


def summarise(cases: list[dict[str, Any]], *, writes: list[str], senders: list[str], rt_priorities: list[int],
              quick: bool, durations: tuple[float, float], machine: dict[str, Any] | None = None,
              when: str | None = None) -> dict[str, Any]:
    """The results file: headline keys from the case at 500 Hz, idle, with the first write mode, sender and
    real-time priority given (``latency_p99_ms`` ...), the same for every write mode x priority measured
    (``variants``), one line per case (``summary``) and every case in full (``cases``)."""
    from importlib.metadata import version

    def pick(rate: float, load: bool, write: str, rt: int) -> dict[str, Any] | None:
        return next((c for c in cases if c["rate_hz"] == rate and c["load"] == load and c["sender"] == senders[0]
                     and c["write"] == write and c["rt_priority"] == rt), None)

    head = pick(500.0, False, writes[0], rt_priorities[0]) or cases[0]
    loaded = pick(500.0, True, writes[0], rt_priorities[0])
    variants = {}
    for write, rt in itertools.product(writes, rt_priorities):
        for load in (False, True):
            c = pick(500.0, load, write, rt)
            if c is not None:
                variants[f"500hz_{'load' if load else 'idle'}_write_on_{write}_rt{rt}"] = {
                    "latency_p99_ms": c["latency_ms"].get("p99"), "latency_p50_ms": c["latency_ms"].get("p50"),
                    "dropped": c["dropped"], "sent": c["sent"], "loop_rate_hz": c["loop"]["rate_hz"],
                    "loop_jitter_p99_ms": c["loop"]["jitter_ms"].get("p99"),
                    "loadavg_1min_before": c["loadavg_1min_before"]}
    return {
        "benchmark": "ros_latency",
        "when": when or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": quick, "duration_s_per_case": durations[0], "duration_s_per_case_under_load": durations[1],
        "machine": machine or {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                               "rclpy": version("ros-rclpy"), "nice": os.nice(0),
                               "rmw": os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp (default)")},
        "target": {"latency_p99_ms": TARGET_P99_MS, "rate_hz": 500.0, "dropped_commands": 0},
        "headline_case": {k: head[k] for k in ("rate_hz", "load", "sender", "write", "rt_priority")},
        "latency_p99_ms": head["latency_ms"].get("p99"),
        "latency_p50_ms": head["latency_ms"].get("p50"),
        "transport_p99_ms": head["transport_ms"].get("p99"),
        "loop_jitter_p50_ms": head["loop"]["jitter_ms"].get("p50"),
        "loop_jitter_p99_ms": head["loop"]["jitter_ms"].get("p99"),
        "dropped_commands": head["dropped"],
        "superseded_commands": head["superseded"],
        "latency_p99_ms_under_load": loaded["latency_ms"].get("p99") if loaded else None,
        "dropped_commands_under_load": loaded["dropped"] if loaded else None,
        "meets_target": bool(head["rate_hz"] == 500.0 and (head["latency_ms"].get("p99") or math.inf) < TARGET_P99_MS
                             and head["dropped"] == 0),
        "variants": variants,
        # One line per case (the full figures are in `cases`).
        "summary": [{"rate_hz": c["rate_hz"], "load": c["load"], "write": c["write"], "sender": c["sender"],
                     "rt_priority": c["rt_priority"], "latency_p50_ms": c["latency_ms"].get("p50"),
                     "latency_p99_ms": c["latency_ms"].get("p99"), "transport_p99_ms": c["transport_ms"].get("p99"),
                     "loop_jitter_p99_ms": c["loop"]["jitter_ms"].get("p99"), "loop_rate_hz": c["loop"]["rate_hz"],
                     "dropped": c["dropped"], "superseded": c["superseded"], "sent": c["sent"],
                     "loadavg_1min_before": c["loadavg_1min_before"]} for c in cases],
        "cases": cases,
    }


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 s per case (smoke run)")
    ap.add_argument("--duration", type=float, default=None, help="seconds of commands per idle case (default 60, quick 3)")
    ap.add_argument("--load-duration", type=float, default=None,
                    help="seconds per case under CPU load (default 20, quick 3: the busy loops slow everyone on a shared machine)")
    ap.add_argument("--rates", type=float, nargs="+", default=[100.0, 500.0], help="loop rates, Hz")
    ap.add_argument("--no-load", action="store_true", help="skip the cases under CPU load")
    ap.add_argument("--sender", choices=["timer", "state", "both"], default="timer",
                    help="timer: own schedule (default); state: one command per /joint_states; both")
    ap.add_argument("--write", choices=["command", "cycle", "both"], default="command",
                    help="arm_hal write_on_command: command (default: write when the fresh command arrives), "
                         "cycle (write at the cycle's start), both")
    ap.add_argument("--rt-priority", type=int, nargs="+", default=[0],
                    help="SCHED_FIFO priority of arm_hal and the sender (0: normal scheduling, the default); "
                         "several values run each")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--resummarise", type=Path, default=None, metavar="RESULTS_JSON",
                    help="measure nothing: rebuild the headline keys of a results file from its cases, with the "
                         "headline picked by --write/--sender/--rt-priority (first of each); writes --out")
    ap.add_argument("--keep", type=Path, default=None, help="keep the timing logs and node logs in this folder")
    args = ap.parse_args(argv)
    duration = args.duration if args.duration is not None else (3.0 if args.quick else 60.0)
    load_duration = args.load_duration if args.load_duration is not None else (3.0 if args.quick else 20.0)
    if not duration > 0 or not load_duration > 0 or any(not r > 0 for r in args.rates):
        ap.error("--duration, --load-duration and --rates must be > 0")
    modes = ["timer", "state"] if args.sender == "both" else [args.sender]
    writes = ["command", "cycle"] if args.write == "both" else [args.write]
    if args.resummarise is not None:
        old = json.loads(args.resummarise.read_text())
        payload = summarise(old["cases"], writes=writes, senders=modes, rt_priorities=args.rt_priority,
                            quick=old["quick"], durations=(old["duration_s_per_case"], old["duration_s_per_case_under_load"]),
                            machine=old["machine"], when=old["when"])
        atomic_write_json(args.out, payload)
        print(f"latency_p99_ms {payload['latency_p99_ms']} (headline {payload['headline_case']}); wrote {args.out}")
        return 0
    signal.signal(signal.SIGTERM, _terminate)  # clean up the node and the busy loops on `kill`

    from skill_rl.ros.env import ensure_interfaces
    from skill_rl.ros.testing import DomainLease

    lease = DomainLease().__enter__()  # a domain no other graph on this machine uses, held until exit
    domain = lease.domain_id
    ensure_interfaces()
    cases = []
    with tempfile.TemporaryDirectory(prefix="ros_latency_") as tmp_dir:
        tmp = str(args.keep) if args.keep else tmp_dir
        Path(tmp).mkdir(parents=True, exist_ok=True)
        for write, mode, rt, load, rate in itertools.product(writes, modes, args.rt_priority,
                                                              [False] if args.no_load else [False, True], args.rates):
            seconds = load_duration if load else duration
            print(f"case: {rate:g} Hz, {'under load' if load else 'idle'}, sender {mode}, write on {write}, "
                  f"rt priority {rt}, {seconds:g} s ...", flush=True)
            c = run_case(rate, load, seconds, mode, write, domain, Path(tmp), rt)
            lat, loop = c["latency_ms"], c["loop"]
            print(f"  latency p50 {lat.get('p50')} p99 {lat.get('p99')} ms (transport p99 "
                  f"{c['transport_ms'].get('p99')} ms), sent {c['sent']} dropped {c['dropped']} superseded "
                  f"{c['superseded']}; loop {loop['rate_hz']} Hz jitter p50 {loop['jitter_ms'].get('p50')} p99 "
                  f"{loop['jitter_ms'].get('p99')} ms, late {loop['late_cycles']}", flush=True)
            cases.append(c)

    payload = summarise(cases, writes=writes, senders=modes, rt_priorities=args.rt_priority, quick=bool(args.quick),
                        durations=(duration, load_duration))
    atomic_write_json(args.out, payload)
    print(f"latency_p99_ms {payload['latency_p99_ms']} (target < {TARGET_P99_MS}), dropped {payload['dropped_commands']}, "
          f"under load p99 {payload['latency_p99_ms_under_load']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
