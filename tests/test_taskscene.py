"""Task scenes: built from a TaskSpec, Gymnasium-conformant, seeded layouts inside the placement regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skill_rl.envs import make_task_env
from skill_rl.envs.tabletop.predicates import holds
from skill_rl.envs.tabletop.taskscene import ObjectDecl, PlacementRegion, TaskSceneEnv, TaskSpec
from skill_rl.planning.tasklang import load_task
from tests.conformance import check_api, check_determinism, check_layout

TASKS = Path(__file__).resolve().parents[1] / "tasks"


def test_gymnasium_checker_layout_and_determinism():
    spec = load_task(TASKS / "open_stack_close.task")
    env = make_task_env(spec)
    assert isinstance(env, TaskSceneEnv)
    check_api(env)
    check_layout(env)
    check_determinism(lambda: make_task_env(spec), steps=10)


def test_info_reports_goal_atoms_and_success_is_their_conjunction():
    spec = load_task(TASKS / "stack_three.task")
    env = make_task_env(spec)
    _, info = env.reset(seed=0)
    assert set(info["goal_atoms"]) == {"On(cube_red, cube_blue)", "On(cube_green, cube_red)"}
    assert info["is_success"] is False and not any(info["goal_atoms"].values())
    _, reward, _, _, info = env.step(np.zeros(7, dtype=np.float32))
    assert reward == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_objects_start_inside_their_placement_regions_and_apart(seed):
    spec = load_task(TASKS / "sort_two_regions.task")
    env = make_task_env(spec)
    env.reset(seed=seed)
    base = env.unwrapped
    for atom in spec.init:
        region = spec.region(atom[2])
        xy = base.body_pos(atom[1])[:2]
        assert np.all(xy >= np.array(region.low_xy) - 1e-3) and np.all(xy <= np.array(region.high_xy) + 1e-3), atom
    red, blue = base.body_pos("cube_red"), base.body_pos("cube_blue")
    assert np.linalg.norm(red[:2] - blue[:2]) > 0.05
    assert holds(base, ("OnTable", "cube_red")) and holds(base, ("OnTable", "cube_blue"))
    assert not holds(base, ("In", "cube_red", "left_region"))


def test_layouts_differ_between_seeds_and_repeat_for_a_seed():
    spec = load_task(TASKS / "stack_three.task")
    env = make_task_env(spec)
    a = env.reset(seed=1)[1]["object_poses"]["cube_red"]
    b = env.reset(seed=2)[1]["object_poses"]["cube_red"]
    c = env.reset(seed=1)[1]["object_poses"]["cube_red"]
    assert not np.allclose(a, b)
    np.testing.assert_allclose(a, c)


def test_init_stacks_and_drawer_state():
    spec = TaskSpec(
        "stacked", "x",
        (ObjectDecl.of_type("b", "cube_blue"), ObjectDecl.of_type("r", "cube_red"), ObjectDecl.of_type("c", "cabinet")),
        (PlacementRegion("left", (-0.1, -0.2), (0.1, -0.1)), PlacementRegion("cab", (0.03, 0.15), (0.05, 0.16))),
        (("On", "r", "b"), ("On", "b", "left"), ("On", "c", "cab"), ("Open", "c")),
        (("On", "b", "r"),),
    )
    env = make_task_env(spec)
    env.reset(seed=0)
    for _ in range(10):
        env.step(np.array([0, 0, 0, 0, 0, 0, -1], dtype=np.float32))
    base = env.unwrapped
    assert holds(base, ("On", "r", "b"))
    assert holds(base, ("Open", "c"))
    assert not holds(base, ("InDrawer", "r", "c"))


def test_bad_specs_are_refused_with_the_reason():
    cube = ObjectDecl.of_type("a", "cube_red")
    with pytest.raises(ValueError, match="goal has no atoms"):
        TaskSceneEnv(TaskSpec("p", "x", (cube,)))
    with pytest.raises(ValueError, match="unknown object 'b'"):
        TaskSceneEnv(TaskSpec("p", "x", (cube,), goal=(("On", "a", "b"),)))
    with pytest.raises(ValueError, match="cycle"):
        two = (cube, ObjectDecl.of_type("b", "cube_blue"))
        TaskSceneEnv(TaskSpec("p", "x", two, init=(("On", "a", "b"), ("On", "b", "a")), goal=(("Lifted", "a"),))).reset()
    with pytest.raises(TypeError, match="needs a TaskSpec"):
        TaskSceneEnv("tasks/stack_three.task")
    with pytest.raises(KeyError, match="unknown object type"):
        ObjectDecl.of_type("a", "cube_purple")
