"""One test per fault of the safety filter, each asserting the behaviour (survey table D).

Filter-level tests use ``FilterRig`` (a SafetyFilter on a ManualClock with an ideally tracking arm); the
faults that involve the backend (nothing sent, read retries, NaN state, stuck joint, latency) use FakeArm
through ``ArmHarness``, whose ``sent``/``holds`` record everything the backend was told.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from skill_rl.hardware import (
    ClampKind,
    Fault,
    FaultCode,
    HalFaultError,
    HalState,
    JointPositionCommand,
    JointVelocityCommand,
    Motion,
    Rejection,
    RobotDescription,
    load_description,
)
from skill_rl.hardware.description import description_path
from skill_rl.hardware.testing import ArmHarness, FilterRig

DESC = load_description("panda")
DT = DESC.period
AMAX = DESC.limits.acceleration
FAST = {"soft_start_s": 0.05}  # get the soft start out of the way in 5 cycles
N_VIOL = 25  # max_consecutive_violations in panda.yaml


def rig(**safety) -> FilterRig:
    r = FilterRig(DESC, {**FAST, **safety}).activate()
    r.run(10)  # past the soft start, at rest
    return r


def fake(**kwargs) -> ArmHarness:
    kwargs.setdefault("safety", FAST)
    h = ArmHarness("fake", **kwargs).start()
    h.run(10)
    return h


def assert_accel_limited(velocities: np.ndarray) -> None:
    assert np.all(np.abs(np.diff(velocities, axis=0)) <= AMAX * DT * (1 + 1e-9) + 1e-12)


# ---------------------------------------------------------------- integrity
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_command_is_rejected_latched_and_never_sent(bad):
    h = fake()
    arm = h.arm
    sent_before, holds_before = arm.sent_total, arm.holds
    q = arm.read().position.copy()
    q[2] = bad
    with pytest.raises(HalFaultError, match="panda_joint3"):
        arm.write(h.position(q))
    assert arm.state is HalState.FAULT
    assert arm.fault.code is FaultCode.NON_FINITE_COMMAND and arm.fault.joint == "panda_joint3"
    report = arm.last_report
    assert report.rejected is Rejection.INVALID and not report.send and report.positions is None
    assert arm.sent_total == sent_before  # the spy: nothing reached the backend ...
    assert all(np.all(np.isfinite(p)) and np.all(np.isfinite(v)) for p, v in arm.sent)
    assert arm.holds == holds_before + 1  # ... except the order to hold where it is
    with pytest.raises(HalFaultError):  # latched: a good command is refused too
        arm.write(h.position(arm.read().position))
    assert arm.sent_total == sent_before


@pytest.mark.parametrize("make", [
    lambda r: r.position(np.zeros(6)),
    lambda r: JointPositionCommand(r.q, r.clock(), names=tuple(reversed(DESC.joint_names))),
    lambda r: "not a command",
])
def test_malformed_command_is_rejected_and_latched(make):
    r = rig()
    report = r.cycle(make)
    assert report.fault.code is FaultCode.COMMAND_MISMATCH and not report.send
    assert r.filter.fault is report.fault


# ---------------------------------------------------------------- jumps
def test_jump_command_is_clamped():
    r = rig()
    q0 = r.q.copy()
    target = q0.copy()
    target[1] += 0.5  # panda_joint2, twice max_relative_target
    first = r.cycle(lambda r: r.position(target))
    (jump,) = first.clamps_of(ClampKind.JUMP)
    assert jump.joint == "panda_joint2" and jump.requested == pytest.approx(q0[1] + 0.5)
    assert jump.applied == pytest.approx(q0[1] + 0.25)
    assert first.send and first.fault is None
    assert abs(first.positions[1] - q0[1]) <= AMAX[1] * DT * DT + 1e-12  # from rest: one acceleration step
    reports = r.run(15, lambda r: r.position(target))
    setpoints = np.array([first.positions] + [x.positions for x in reports])
    assert np.all(np.abs(np.diff(setpoints, axis=0)) <= r.filter.vmax * DT + 1e-12)
    assert np.all(np.abs(setpoints - q0) <= 0.25 + 1e-9)
    assert r.filter.fault is None


def test_jump_command_is_rejected_in_strict_mode():
    r = rig(strict=True)
    target = r.q.copy()
    target[1] += 0.5
    report = r.cycle(lambda r: r.position(target))
    assert not report.send and report.rejected is Rejection.INVALID
    assert report.fault.code is FaultCode.JUMP and report.fault.joint == "panda_joint2"
    assert "strict" in report.fault.message


# ---------------------------------------------------------------- limits and workspace
def test_joint_limit_violation_is_clamped_then_repeated_violation_faults():
    q0 = DESC.home.copy()
    q0[6] = 2.70  # panda_joint7 (wrist roll: the tool points stay put): the band ends at 2.8973 - 0.1
    r = FilterRig(DESC, FAST, q0=q0).activate()
    r.run(10)
    target = q0.copy()
    target[6] = 2.90  # beyond even the hard limit
    upper = DESC.limits.upper[6] - 0.1
    reports = []
    for _ in range(N_VIOL - 1):
        reports.append(r.cycle(lambda r: r.position(target)))
        (c,) = reports[-1].clamps_of(ClampKind.JOINT_LIMIT)
        assert c.joint == "panda_joint7" and c.applied == pytest.approx(upper)
    assert all(x.send and x.fault is None for x in reports)
    assert max(x.positions[6] for x in reports) <= upper + 1e-12
    assert r.q[6] == pytest.approx(upper)  # got to the limit (minus margin) and stopped there
    last = r.cycle(lambda r: r.position(target))
    assert last.fault.code is FaultCode.JOINT_LIMIT and last.fault.joint == "panda_joint7"
    assert not last.send and "25 consecutive commands" in last.fault.message


def test_one_violating_command_counts_once_however_many_cycles_it_is_clamped():
    """A single command out of reach is clamped on every cycle until the watchdog stops the arm: one
    violation, no fault (a jump command is clamped, not a fault); a stream of them faults."""
    r = FilterRig(DESC, {**FAST, "watchdog_timeout_s": 0.5}).activate()  # 50 cycles of the one command
    r.run(10)
    target = r.q.copy()
    target[0] += 1.5  # far beyond max_relative_target_rad: JUMP-clamped on every cycle
    reports = [r.cycle(lambda r: r.position(target))] + r.run(80)
    jumps = [x for x in reports if x.clamps_of(ClampKind.JUMP)]
    assert len(jumps) > N_VIOL  # clamped on more cycles than the fault threshold ...
    assert all(x.fault is None and x.send for x in reports)  # ... and still one violation
    assert reports[-1].motion is Motion.HOLD and any(x.watchdog for x in reports)
    r.cycle(lambda r: r.position(r.q))  # a fresh command in reach: the count starts again
    stream = []
    while not stream or stream[-1].fault is None:
        stream.append(r.cycle(lambda r: r.position(r.q + np.array([1.5, 0, 0, 0, 0, 0, 0]))))
        assert len(stream) <= N_VIOL
    assert len(stream) == N_VIOL and stream[-1].fault.code is FaultCode.JUMP and stream[-1].fault.joint == "panda_joint1"


def test_velocity_command_into_a_joint_limit_brakes_then_faults():
    q0 = DESC.home.copy()
    q0[6] = -2.60  # panda_joint7: band lower = -2.8973 + 0.1 = -2.7973
    r = FilterRig(DESC, {**FAST, "max_consecutive_violations": 10}, q0=q0).activate()
    r.run(10)
    v = np.zeros(7)
    v[6] = -2.0
    reports = []
    while not reports or reports[-1].fault is None:
        reports.append(r.cycle(lambda r: r.velocity(v)))
        assert len(reports) < 100
    sent = [x for x in reports if x.send]
    assert min(x.positions[6] for x in sent) >= -2.7973 - 1e-12
    assert_accel_limited(np.array([x.velocities for x in sent]))  # braked, not slammed
    assert sent[-1].positions[6] == pytest.approx(-2.7973)
    assert sent[-1].clamps_of(ClampKind.JOINT_LIMIT)[0].joint == "panda_joint7"
    assert reports[-1].fault.code is FaultCode.JOINT_LIMIT and reports[-1].fault.joint == "panda_joint7"


def test_velocity_command_over_the_limit_is_clamped():
    r = rig()
    v = np.zeros(7)
    v[4] = 10.0
    reports = r.run(N_VIOL - 1, lambda r: r.velocity(v))
    assert reports[0].clamps_of(ClampKind.VELOCITY_LIMIT)[0].joint == "panda_joint5"
    assert max(x.velocities[4] for x in reports) <= r.filter.vmax[4] + 1e-12
    strict = rig(strict=True).cycle(lambda r: r.velocity(v))
    assert strict.fault.code is FaultCode.VELOCITY_LIMIT and strict.fault.joint == "panda_joint5"


def low_floor_description(z_floor: float) -> RobotDescription:
    data = yaml.safe_load(description_path("panda").read_text())
    data = copy.deepcopy(data)
    data["workspace"]["lower"][2] = z_floor
    return RobotDescription.from_dict(data, source="panda.yaml (test: raised floor)")


def test_workspace_violation_is_projected_then_repeated_violation_faults():
    grip_z = DESC.fk(DESC.home)[2, 3]  # 0.3265 m
    desc = low_floor_description(grip_z - 0.02)  # the floor 2 cm under the grip point
    r = FilterRig(desc, {**FAST, "max_relative_target_rad": 0.6}).activate()
    r.run(10)
    target = desc.home + np.array([0, 0.5, 0, 0, 0, 0, 0])  # shoulder forward: the grip point dips
    assert desc.fk(target)[2, 3] < grip_z - 0.1
    reports = []
    while not reports or reports[-1].fault is None:
        reports.append(r.cycle(lambda r: r.position(target)))
        assert len(reports) < 200
    sent = [x for x in reports if x.send]
    for x in sent:  # every setpoint keeps both tool points above the floor
        for p in desc.kinematics.tool_points(x.positions).values():
            assert p[2] >= desc.workspace.lower[2] - 1e-6
    projected = [x for x in sent if x.clamps_of(ClampKind.WORKSPACE)]
    assert projected, "the step leaving the box must be cut back"
    # The fingertips (8 mm past the grip point, pointing down) are the lowest tool point: they meet the floor.
    assert "fingertips z" in projected[0].clamps_of(ClampKind.WORKSPACE)[0].message
    tips = desc.kinematics.tool_points(r.q)["fingertips"]
    assert tips[2] == pytest.approx(desc.workspace.lower[2], abs=1e-3)  # braked at the floor
    fault = reports[-1].fault
    assert fault.code is FaultCode.WORKSPACE and "fingertips z" in fault.message
    assert all(x.clamps_of(ClampKind.WORKSPACE) for x in sent[-(N_VIOL - 1):])  # N in a row -> fault
    assert_accel_limited(np.array([x.velocities for x in sent]))  # braked before the wall, not slammed

    strict = FilterRig(desc, {**FAST, "max_relative_target_rad": 0.6, "strict": True}).activate()
    strict.run(10)
    while True:
        report = strict.cycle(lambda r: r.position(target))
        if report.fault is not None or not report.send:
            break
    assert report.fault.code is FaultCode.WORKSPACE and not report.send


# ---------------------------------------------------------------- staleness
def test_command_too_old_is_rejected_without_fault():
    r = rig()
    q0 = r.q.copy()
    stale = r.cycle(lambda r: r.position(q0 + 0.1, age=0.2))
    assert stale.rejected is Rejection.STALE and "0.200 s old" in stale.reject_message
    assert stale.fault is None and stale.send and not stale.fresh
    np.testing.assert_array_equal(stale.positions, q0)  # nothing moved: it held
    future = r.cycle(lambda r: r.position(q0 + 0.1, age=-0.5))
    assert future.rejected is Rejection.FUTURE_STAMP
    ok = r.cycle(lambda r: r.position(q0 + 0.1, age=0.05))
    assert ok.fresh and ok.rejected is None and ok.motion is Motion.TRACK


def test_stop_refuses_commands_of_the_cancelled_goal():
    r = rig()
    old = r.position(r.q + 0.1)
    r.cycle(old)
    r.filter.request_stop()
    replay = r.cycle(JointPositionCommand(old.positions, old.stamp + 1e-6))
    assert replay.rejected is Rejection.SUPERSEDED
    new = r.cycle(lambda r: r.position(r.q - 0.05))
    assert new.fresh and new.motion is Motion.TRACK


# ---------------------------------------------------------------- watchdog and clock
def stream_then_silence(r: FilterRig, silence: int, jump_at: int | None = None, jump: float = 0.0,
                        resend: bool = False) -> tuple[int, list]:
    """Stream 1 rad/s velocity commands for 40 cycles, then nothing (or the same command again) for
    ``silence`` cycles; optionally jump the clock before silence cycle ``jump_at``. Returns the index of the
    silent cycle where the watchdog tripped and the reports of the silent cycles."""
    v = np.full(7, 1.0)
    r.run(40, lambda r: r.velocity(v))
    last = JointVelocityCommand(v, r.clock() + DT)  # stamped as the next cycle runs: fresh there
    r.cycle(last)
    reports = []
    for i in range(silence):
        if i == jump_at:
            r.clock.jump(jump)
        reports.append(r.cycle(last if resend else None))
    trip = next(i for i, x in enumerate(reports) if x.watchdog)
    return trip, reports


@pytest.mark.parametrize("resend", [False, True], ids=["silence", "same-command-resent"])
def test_watchdog_decelerates_to_zero_within_the_acceleration_limit_and_holds(resend):
    r = rig()
    trip, reports = stream_then_silence(r, 80, resend=resend)
    timeout_cycles = int(round(0.1 / DT))
    assert trip == timeout_cycles  # cycle index 10 = 0.11 s after the last fresh command
    assert all(not x.watchdog and x.motion is Motion.TRACK for x in reports[:trip])
    v = np.array([x.velocities for x in reports])
    assert_accel_limited(v)
    n_stop = int(np.ceil(np.max(1.0 / AMAX) / DT)) + 1
    assert np.all(v[trip + n_stop:] == 0.0)
    held = np.array([x.positions for x in reports[trip + n_stop:]])
    assert np.all(held == held[0]) and reports[-1].motion is Motion.HOLD
    assert all(x.fault is None and x.send for x in reports)
    # A fresh command resumes (not a fault).
    assert r.cycle(lambda r: r.velocity(np.full(7, 0.2))).motion is Motion.TRACK


@pytest.mark.parametrize("jump", [100.0, -100.0, 0.3, -0.3])
def test_clock_jump_does_not_break_the_watchdog(jump):
    baseline, _ = stream_then_silence(rig(), 60)
    # A jump during the silence: the watchdog still trips on the same cycle (a backward jump must not
    # postpone it for ever, a forward one must not be taken as seconds of motion).
    r = rig()
    trip, reports = stream_then_silence(r, 60, jump_at=3, jump=jump)
    assert reports[3].clock_jump == pytest.approx(jump + DT)
    assert trip == baseline
    assert_accel_limited(np.array([x.velocities for x in reports]))
    # A jump while commands keep streaming: no spurious trip, and never a bigger step.
    r = rig()
    v = np.full(7, 1.0)
    r.run(20, lambda r: r.velocity(v))
    pre_jump = JointVelocityCommand(v, r.clock() + DT / 2)  # made before the jump, used after it
    r.clock.jump(jump)
    straddle = r.cycle(pre_jump)
    if abs(jump) > 0.1:
        assert straddle.rejected in (Rejection.STALE, Rejection.FUTURE_STAMP)
    after = r.run(30, lambda r: r.velocity(v))
    assert not any(x.watchdog for x in [straddle, *after])
    assert all(x.motion is Motion.TRACK for x in after)
    steps = np.array([x.velocities for x in [straddle, *after]])
    assert np.all(np.abs(steps) <= r.filter.vmax + 1e-12)


# ---------------------------------------------------------------- backend faults
def test_backend_read_failure_is_retried_then_faults():
    h = fake()
    arm = h.arm
    arm.fail_next_reads(3)  # == read_retries: the 4th attempt succeeds
    state = arm.read()
    assert np.all(np.isfinite(state.position)) and arm.stats["read_retries"] == 3
    assert arm.state is HalState.ACTIVE
    holds = arm.holds
    arm.fail_next_reads(4)
    with pytest.raises(HalFaultError, match="read failed 4 times"):
        arm.read()
    assert arm.state is HalState.FAULT and arm.fault.code is FaultCode.READ_FAILURE
    assert arm.holds == holds + 1
    with pytest.raises(HalFaultError):
        arm.write(h.position(state.position))
    arm.reset()
    assert arm.state is HalState.INACTIVE
    arm.read()  # the link is back


def test_nan_in_measured_state_faults_naming_the_joint():
    h = fake()
    h.arm.nan_next_reads(1, joint="panda_joint6")
    with pytest.raises(HalFaultError, match="panda_joint6"):
        h.arm.read()
    assert h.arm.fault.code is FaultCode.NON_FINITE_STATE and h.arm.fault.joint == "panda_joint6"


def test_stuck_joint_trips_the_tracking_monitor():
    h = fake()
    arm = h.arm
    arm.stick_joint("panda_joint4")
    q0 = arm.read().position
    target = q0 + 0.2
    cycles_over = 0
    with pytest.raises(HalFaultError, match="panda_joint4"):
        for _ in range(100):
            c = h.cycle(lambda s: h.position(target))
            cycles_over = cycles_over + 1 if abs(c.report.tracking_error[3]) > 0.15 else 0
    assert arm.fault.code is FaultCode.TRACKING_ERROR and arm.fault.joint == "panda_joint4"
    assert cycles_over == 9  # the 10th cycle over the threshold faulted


@pytest.mark.parametrize("latency, faults", [(0.02, False), (0.25, True)])
def test_command_latency(latency, faults):
    h = fake()
    h.arm.set_latency(latency)
    target = h.arm.read().position + np.array([0.2, -0.2, 0.2, 0.2, -0.2, 0.2, -0.2])
    if faults:
        with pytest.raises(HalFaultError):
            h.run(120, lambda s: h.position(target))
        assert h.arm.fault.code is FaultCode.TRACKING_ERROR
    else:
        h.run(120, lambda s: h.position(target))
        np.testing.assert_allclose(h.arm.read().position, target, atol=1e-3)


# ---------------------------------------------------------------- e-stop and soft start
def test_estop_blocks_motion_until_reset_and_activate():
    r = rig()
    r.run(10, lambda r: r.velocity(np.full(7, 0.5)))
    fault = r.filter.latch(Fault(FaultCode.ESTOP, "operator"))
    q_at_stop = r.q.copy()
    for report in r.run(20, lambda r: r.position(r.q + 0.1)):
        assert not report.send and report.rejected is Rejection.FAULTED and report.fault is fault
    np.testing.assert_array_equal(r.q, q_at_stop)
    r.filter.reset()
    assert r.cycle(lambda r: r.position(r.q + 0.1)).rejected is Rejection.NOT_ACTIVE  # reset alone is not enough
    r.activate()
    report = r.cycle()
    assert report.send and np.array_equal(report.positions, q_at_stop)  # seeded: no jump


def test_soft_start_ramps_the_speed_from_zero():
    r = FilterRig(DESC, {"soft_start_s": 0.5}).activate()
    target = r.q + 0.24
    reports = r.run(80, lambda r: r.position(target))
    scale = np.array([x.speed_scale for x in reports])
    np.testing.assert_allclose(scale[:50], np.arange(1, 51) * DT / 0.5, atol=1e-9)
    assert np.all(scale[50:] == 1.0)
    speed = np.abs(np.array([x.velocities for x in reports]))
    assert np.all(speed <= scale[:, None] * r.filter.vmax + 1e-12)
    assert np.all(speed[0] <= 0.02 * r.filter.vmax + 1e-12)  # the first cycle barely moves
    assert any(x.clamps_of(ClampKind.RATE_LIMIT) for x in reports[:10])
    # After a fault and re-activation the ramp starts again.
    r.filter.latch(Fault(FaultCode.ESTOP, "test"))
    r.filter.reset()
    r.activate()
    assert r.cycle(lambda r: r.position(r.q + 0.2)).speed_scale == pytest.approx(DT / 0.5)


def test_report_names_what_was_clamped_for_diagnostics():
    r = rig()
    target = r.q.copy()
    target[6] += 1.0
    report = r.cycle(lambda r: r.position(target))
    assert "panda_joint7" in report.summary() and "jump" in report.summary()
    d = report.as_dict()
    assert d["motion"] == "track" and any("panda_joint7" in v for k, v in d.items() if k.startswith("clamp"))
    assert report.clamped_joints(ClampKind.JUMP) == ["panda_joint7"]


def test_velocity_command_returns_applied_velocity():
    h = fake()
    applied = h.arm.write(JointVelocityCommand(np.full(7, 0.3), h.clock()))
    assert isinstance(applied, JointVelocityCommand) and applied.names == DESC.joint_names
    assert np.all(applied.velocities <= 0.3 + 1e-12)
