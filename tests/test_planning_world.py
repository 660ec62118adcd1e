"""One planning-and-monitoring loop over pluggable worlds: events, step outcomes (fault, refusal, stop), a
perceived world driven through a kinematic copy of the env, and the perception helper itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skill_rl.envs import make_task_env
from skill_rl.library import SkillLibrary, add_scripted_primitives
from skill_rl.library.perception import KinematicScene, PerceivedObject, PerceivedState, PerceptionError
from skill_rl.planning.execute import DropObject, ExecConfig, SkillSet, execute_plan
from skill_rl.planning.symbolic import abstract_state
from skill_rl.planning.tasklang import load_task
from skill_rl.planning.world import PerceivedWorld, SimWorld, StepOutcome, StepRequest, World

TASKS = Path(__file__).resolve().parents[1] / "tasks"


@pytest.fixture(scope="module")
def skills(tmp_path_factory):
    lib = SkillLibrary(tmp_path_factory.mktemp("lib"))
    add_scripted_primitives(lib)
    return SkillSet(lib)


def perceived(env) -> PerceivedState:
    """What a tracker + the HAL would report about ``env`` (poses of every object, joints, fingers)."""
    b = env.unwrapped
    objects = [PerceivedObject(o.name, b.body_pos(o.name), b.body_quat(o.name), o.kind,
                               b.joint_pos(f"{o.name}_slide") if o.kind == "drawer" else None) for o in b.task.objects]
    return PerceivedState(b.data.qpos[:7].copy(), b.data.qpos[b.finger_qadr].copy(), objects, b.data.qvel[:7].copy())


class ScriptedOutcomes(SimWorld):
    """A sim world whose ``execute`` answers from a script for the first decisions (then runs for real)."""

    def __init__(self, env, obs, outcomes):
        super().__init__(env, obs)
        self.outcomes = list(outcomes)
        self.requests: list[StepRequest] = []

    def execute(self, step):
        self.requests.append(step)
        return self.outcomes.pop(0) if self.outcomes else super().execute(step)


def test_events_report_plan_steps_and_the_end(skills):
    spec = load_task(TASKS / "stack_three.task")
    env = make_task_env(spec)
    obs, _ = env.reset(seed=1)
    events = []
    world = SimWorld(env, obs, inject=lambda i, op, skill: DropObject(skill, after_steps=2) if i == 0 else skill)
    assert isinstance(world, World)
    trace = execute_plan(world, spec.goal, skills, on_event=lambda kind, data: events.append((kind, data)))
    assert trace["success"], trace["reason"]
    kinds = [k for k, _ in events]
    assert kinds[0] == "plan" and kinds[-1] == "finished" and kinds.count("step") == len(trace["decisions"])
    first_done = next(d for k, d in events if k == "step_done")
    assert first_done["status"] == "finished" and first_done["event"].startswith("failed: effects not reached")
    replan = next(d for k, d in events if k == "replan")
    assert replan["decision"] == 0 and "effects not reached" in replan["reason"]
    step = next(d for k, d in events if k == "step")
    assert step["skill"] == "pick_place@v1" and step["params"] == {"obj": "cube_red", "target": "cube_blue"}
    assert trace["decisions"][0]["skill"] == "pick_place@v1"


def test_a_fault_stops_the_run_at_once_and_is_named(skills):
    spec = load_task(TASKS / "stack_three.task")
    env = make_task_env(spec)
    obs, _ = env.reset(seed=0)
    world = ScriptedOutcomes(env, obs, [StepOutcome("fault", 3, "E-stop pressed", fault="ESTOP")])
    trace = execute_plan(world, spec.goal, skills)
    assert trace["outcome"] == "fault" and not trace["success"]
    assert "ESTOP" in trace["reason"] and "no further step" in trace["reason"]
    assert len(world.requests) == 1 and len(trace["decisions"]) == 1  # nothing was sent after the fault
    assert trace["decisions"][0]["event"] == "fault: ESTOP: E-stop pressed"
    world = ScriptedOutcomes(env, env.reset(seed=0)[0], [StepOutcome("cancelled", 2, "goal canceled")])
    trace = execute_plan(world, spec.goal, skills)
    assert trace["outcome"] == "cancelled" and len(world.requests) == 1


def test_refused_and_stopped_steps_are_told_apart_and_replanned(skills):
    spec = load_task(TASKS / "stack_three.task")
    env = make_task_env(spec)
    obs, _ = env.reset(seed=0)
    world = ScriptedOutcomes(env, obs, [StepOutcome("refused", 0, "STALE_PERCEPTION: poses 2 s old"),
                                        StepOutcome("stopped", 40, "TIMEOUT: timed out after 2 s")])
    trace = execute_plan(world, spec.goal, skills)
    first, second = trace["decisions"][:2]
    assert first["status"] == "refused" and first["event"].startswith("refused: STALE_PERCEPTION")
    assert second["status"] == "stopped" and second["event"].startswith("stopped: TIMEOUT: timed out after 2 s; "
                                                                        "effects not reached")
    assert second["step"] == first["step"] and second["replanned"]  # a refusal is an attempt, not an exclusion
    assert trace["success"], trace["reason"]
    assert trace["failures"] == 2


def test_sim_world_refuses_a_skill_that_does_not_fit_instead_of_crashing(skills):
    spec = load_task(TASKS / "stack_three.task")
    env = make_task_env(spec)
    obs, _ = env.reset(seed=0)
    op = next(o for o in skills.operators({"cube_red": "cube", "cube_blue": "cube"}) if o.primitive == "pick_place")
    out = SimWorld(env, obs).execute(StepRequest(0, op, skills.entry(op), {"obj": "cube_red", "target": "nowhere"}))
    assert out.status == "refused" and "nowhere" in out.message and out.steps == 0


class MirrorWorld(PerceivedWorld):
    """A world that only perceives (poses of a separate simulation, as a tracker would report them) and acts
    through someone else (here: the simulation runs the skill, as the ROS skill server would)."""

    def __init__(self, sim_env, obs):
        super().__init__(KinematicScene.like(sim_env))
        self.sim = SimWorld(sim_env, obs)
        self.sent: list[str] = []

    def perceive(self):
        return perceived(self.sim.env)

    def execute(self, step):
        self.sent.append(step.skill)
        out = self.sim.execute(step)
        self.used += out.steps
        return out


@pytest.mark.parametrize("task", ["drawer_put_close", "unstack_then_sort"])
def test_a_perceived_world_plans_and_monitors_like_the_simulation(skills, task):
    spec = load_task(TASKS / f"{task}.task")
    env = make_task_env(spec)
    obs, _ = env.reset(seed=2)
    world = MirrorWorld(env, obs)
    np.testing.assert_array_equal(world.observe(), obs)
    assert world.abstract_state() == abstract_state(env)
    trace = execute_plan(world, spec.goal, skills)
    assert trace["success"], trace["reason"]
    assert world.sent and all(env.unwrapped.task.goal_truth(env.unwrapped).values())


def test_kinematic_scene_reproduces_observation_and_atoms(skills):
    spec = load_task(TASKS / "open_stack_close.task")
    env = make_task_env(spec)
    obs, _ = env.reset(seed=3)
    scene = KinematicScene.like(env)
    for name, params in [("open_drawer", {"drawer": "cabinet"}), ("pick_place", {"obj": "cube_green",
                                                                                  "target": "cube_blue"})]:
        skill = skills.library.get(name).load(env, **params)
        skill.reset()
        for _ in range(skill.horizon):
            obs, *_ = env.step(skill.act(obs))
            if skill.done(obs):
                break
        np.testing.assert_array_equal(scene.set_state(perceived(env)), obs)
        assert abstract_state(scene.env) == abstract_state(env)
        np.testing.assert_allclose(scene.set_state(scene.state_from_obs(obs)), obs, atol=1e-6)
        assert abstract_state(scene.env) == abstract_state(env)
    assert ("On", "cube_green", "cube_blue") in abstract_state(scene.env) and scene.holds(("Open", "cabinet"))


def test_perception_errors_name_what_is_wrong():
    spec = load_task(TASKS / "stack_three.task")
    env = make_task_env(spec)
    env.reset(seed=0)
    scene = KinematicScene.like(env)
    good = perceived(env)
    with pytest.raises(PerceptionError, match="no perceived pose for cube_red"):
        scene.set_state(PerceivedState(good.joint_positions, good.finger_positions,
                                       [o for o in good.objects if o.name != "cube_red"]))
    with pytest.raises(PerceptionError, match="unknown object.*mug"):
        scene.set_state(PerceivedState(good.joint_positions, good.finger_positions,
                                       [*good.objects, PerceivedObject("mug", (0, 0, 0))]))
    bad = [PerceivedObject(o.name, (np.nan, 0, 0), o.quat_wxyz, o.kind) if o.name == "cube_blue" else o
           for o in good.objects]
    with pytest.raises(PerceptionError, match="position of cube_blue: not finite"):
        scene.set_state(PerceivedState(good.joint_positions, good.finger_positions, bad))
    with pytest.raises(PerceptionError, match="joint_positions: expected 7 numbers, got 6"):
        scene.set_state(PerceivedState(good.joint_positions[:6], good.finger_positions, good.objects))
    with pytest.raises(PerceptionError, match="cube_red is a region here"):
        scene.set_state(PerceivedState(good.joint_positions, good.finger_positions,
                                       [PerceivedObject(o.name, o.position, o.quat_wxyz, "region")
                                        if o.name == "cube_red" else o for o in good.objects]))


def test_run_plan_budget_is_the_sim_worlds(skills):
    spec = load_task(TASKS / "stack_three.task")
    env = make_task_env(spec)
    obs, _ = env.reset(seed=0)
    from skill_rl.planning.execute import run_plan

    trace = run_plan(env, obs, spec.goal, skills, config=ExecConfig(max_env_steps=15))
    assert trace["outcome"] == "gave_up" and trace["reason"].startswith("env step budget spent (15 steps)")
    assert trace["env_steps"] == 15 and trace["decisions"][0]["status"] == "stopped"
