"""Scripted primitives: each reaches its declared effect; scripted plans are ordered; the demonstrator solves tasks;
home never sweeps across the table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skill_rl.envs import make_task_env
from skill_rl.envs.tabletop.predicates import holds
from skill_rl.envs.tabletop.taskscene import ObjectDecl, PlacementRegion, TaskSpec
from skill_rl.library import CATALOG, BadParamsError, UnknownSkillError, make_scripted
from skill_rl.library.demonstrator import ScriptedDemonstrator, primitive_effects, scripted_plan
from skill_rl.planning.tasklang import load_task

TASKS = Path(__file__).resolve().parents[1] / "tasks"
REGIONS = (PlacementRegion("left", (-0.1, -0.2), (0.1, -0.08)), PlacementRegion("right", (-0.1, 0.06), (0.1, 0.2)),
           PlacementRegion("cab", (0.03, 0.15), (0.06, 0.17)))


def _scene(goal, cabinet=False):
    objs = [ObjectDecl.of_type("red", "cube_red"), ObjectDecl.of_type("blue", "cube_blue"),
            ObjectDecl.of_type("zone", "region")]
    init = [("On", "red", "left"), ("On", "blue", "left"), ("On", "zone", "right")]
    if cabinet:
        objs = objs[:1] + [ObjectDecl.of_type("cabinet", "cabinet")]
        init = [("On", "red", "left"), ("On", "cabinet", "cab")]
    return TaskSpec("t", "x", tuple(objs), REGIONS, tuple(init), tuple(goal))


def _run(env, prim, obs):
    prim.reset()
    for _ in range(prim.horizon):
        obs, *_ = env.step(prim.act(obs))
        if prim.done(obs):
            return obs, True
    return obs, False


@pytest.mark.parametrize(("name", "params", "cabinet"), [
    ("pick_place", {"obj": "red", "target": "blue"}, False),
    ("pick_place", {"obj": "red", "target": "zone"}, False),
    ("push", {"obj": "red", "target_xy": "zone"}, False),
    ("lift", {"obj": "blue"}, False),
    ("open_drawer", {"drawer": "cabinet"}, True),
])
def test_primitive_reaches_its_declared_effect(name, params, cabinet):
    env = make_task_env(_scene([("Lifted", "red")], cabinet))
    kinds = {o.name: o.kind for o in env.unwrapped.task_spec.objects}
    effects = primitive_effects(name, params, kinds)
    assert effects
    for seed in range(2):
        obs, _ = env.reset(seed=seed)
        assert not all(holds(env.unwrapped, a) for a in effects)
        obs, finished = _run(env, make_scripted(env, name, **params), obs)
        assert finished, f"{name} did not finish within its horizon (seed {seed})"
        assert all(holds(env.unwrapped, a) for a in effects), (name, seed)


def test_close_drawer_after_open_and_reach():
    env = make_task_env(_scene([("Open", "cabinet")], cabinet=True))
    obs, _ = env.reset(seed=3)
    obs, _ = _run(env, make_scripted(env, "open_drawer", drawer="cabinet"), obs)
    assert holds(env.unwrapped, ("Open", "cabinet"))
    obs, finished = _run(env, make_scripted(env, "close_drawer", drawer="cabinet"), obs)
    assert finished and holds(env.unwrapped, ("Close", "cabinet"))
    target = np.array([0.0, -0.1, 0.2])
    obs, finished = _run(env, make_scripted(env, "reach", xyz=target), obs)
    assert finished and np.linalg.norm(env.unwrapped.eef_pos() - target) < 0.015


def test_make_scripted_errors_name_the_problem():
    env = make_task_env(_scene([("Lifted", "red")]))
    with pytest.raises(UnknownSkillError, match="known primitives: pick_place, push"):
        make_scripted(env, "teleport", obj="red")
    with pytest.raises(BadParamsError, match="missing parameter target"):
        make_scripted(env, "pick_place", obj="red")
    with pytest.raises(BadParamsError, match="unknown parameter\\(s\\) speed"):
        make_scripted(env, "lift", obj="red", speed=2)
    with pytest.raises(BadParamsError, match="'green' is not an object of this scene; valid cube / cylinder names "
                                             "here: red, blue"):
        make_scripted(env, "lift", obj="green")
    with pytest.raises(BadParamsError, match="obj='zone' is a region"):
        make_scripted(env, "lift", obj="zone")
    with pytest.raises(BadParamsError, match="drawer='red' is a cube"):
        make_scripted(env, "open_drawer", drawer="red")
    with pytest.raises(BadParamsError, match="target_xy must be 2 numbers"):
        make_scripted(env, "push", obj="red", target_xy=[0.1])
    assert set(CATALOG) >= {"pick_place", "push", "open_drawer", "close_drawer", "reach", "lift", "home"}


def test_scripted_plan_orders_drawer_supports_and_lifts():
    spec = load_task(TASKS / "open_stack_close.task")
    assert scripted_plan(spec) == [
        ("open_drawer", {"drawer": "cabinet"}),
        ("pick_place", {"obj": "cube_red", "target": "cabinet"}),
        ("pick_place", {"obj": "cube_green", "target": "cube_blue"}),
        ("close_drawer", {"drawer": "cabinet"}),
    ]
    # supports first, whatever order the goal lists them in
    spec = TaskSpec("s", "x", (ObjectDecl.of_type("a", "cube_red"), ObjectDecl.of_type("b", "cube_green"),
                               ObjectDecl.of_type("c", "cube_blue")), (), (),
                    (("On", "a", "b"), ("Lifted", "c"), ("On", "b", "c")))
    assert [p["obj"] for _, p in scripted_plan(spec)] == ["b", "a", "c"]
    assert scripted_plan(spec)[-1][0] == "lift"


# tasks whose fixed scripted ordering is wrong on purpose (the planner must reorder; see the task file)
NEEDS_REORDERING = {"unstack_then_sort"}


@pytest.mark.parametrize("task", sorted(p.stem for p in TASKS.glob("*.task") if p.stem not in NEEDS_REORDERING))
def test_demonstrator_solves_every_task_file(task):
    spec = load_task(TASKS / f"{task}.task")
    env = make_task_env(spec)
    solved = 0
    seeds = range(3)
    for seed in seeds:
        obs, info = env.reset(seed=100 + seed)
        demo = ScriptedDemonstrator(env, spec)
        for _ in range(env.unwrapped.config.max_episode_steps):
            obs, _, _, truncated, info = env.step(demo.act(obs))
            if demo.finished or truncated:
                break
        solved += info["is_success"]
    assert solved == len(seeds), f"{task}: {solved}/{len(seeds)}; last log {demo.log}"


def test_demonstrator_skips_steps_that_already_hold_and_retries_failures():
    spec = _scene([("Open", "cabinet"), ("InDrawer", "red", "cabinet")], cabinet=True)
    env = make_task_env(spec)
    obs, _ = env.reset(seed=0)
    obs, _ = _run(env, make_scripted(env, "open_drawer", drawer="cabinet"), obs)
    demo = ScriptedDemonstrator(env, spec)
    for _ in range(400):
        obs, _, _, _, info = env.step(demo.act(obs))
        if demo.finished:
            break
    assert demo.log[0] == "skip open_drawer(drawer=cabinet) (already holds)"
    assert info["is_success"]

    calls = []

    def clumsy(env_, name, **params):  # the first pick_place "forgets" to do anything: done at once
        prim = make_scripted(env_, name, **params)
        calls.append(name)
        if len(calls) == 1:
            prim.done = lambda obs: True
        return prim

    spec = _scene([("On", "red", "blue")])
    env = make_task_env(spec)
    obs, _ = env.reset(seed=1)
    demo = ScriptedDemonstrator(env, spec, make=clumsy)
    for _ in range(400):
        obs, _, _, _, info = env.step(demo.act(obs))
        if demo.finished:
            break
    assert "retry pick_place(obj=red, target=blue) (1)" in demo.log
    assert info["is_success"]


def test_home_rises_before_it_travels_and_leaves_a_cube_beside_the_gripper_where_it_was():
    """The gripper, closed and low beside a cube (the cube between it and home), goes home: it opens, rises
    straight up, then travels; the cube does not move and the grip site never moves sideways while low."""
    from skill_rl.envs.tabletop.primitives import Home, home_grip_pose

    spec = TaskSpec("h", "x", (ObjectDecl.of_type("cube", "cube_blue"),),
                    (PlacementRegion("spot", (0.05, -0.001), (0.051, 0.001)),), (("On", "cube", "spot"),),
                    (("Lifted", "cube"),))
    env = make_task_env(spec)
    obs, _ = env.reset(seed=0)
    base = env.unwrapped
    cube = base.body_pos("cube")
    for xyz in ([cube[0] + 0.045, cube[1], 0.15], [cube[0] + 0.045, cube[1], 0.02]):
        obs, _ = _run(env, make_scripted(env, "reach", xyz=xyz), obs)
    for _ in range(8):  # close the fingers where it stands
        obs, *_ = env.step(np.array([0, 0, 0, 0, 0, 0, 1.0], dtype=np.float32))
    start, before = base.eef_pos(), base.body_pos("cube")
    home, _ = home_grip_pose(env)
    assert start[2] < 0.04 and start[0] > before[0] > home[0]  # low, with the cube on the way home
    skill = make_scripted(env, "home")
    assert skill.success(obs) is False
    skill.reset()
    path = []
    for _ in range(skill.horizon):
        obs, *_ = env.step(skill.act(obs))
        path.append(base.eef_pos())
        if skill.done(obs):
            break
    low = [p for p in path if p[2] < Home.safe_z - 0.02]
    assert low and max(np.linalg.norm(p[:2] - start[:2]) for p in low) < 0.01
    assert np.linalg.norm(base.body_pos("cube") - before) < 0.002
    assert skill.done(obs) and skill.success(obs) and np.linalg.norm(base.eef_pos() - home) < 0.02
    assert base.gripper_opening() > 0.07
