"""State goals (target positions) mix with predicate goals; learned skill models feed the search and the monitor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skill_rl.envs import make_task_env
from skill_rl.errors import UserError
from skill_rl.library import SkillLibrary, add_scripted_primitives
from skill_rl.planning.execute import SkillSet, run_plan
from skill_rl.planning.goals import parse_targets
from skill_rl.planning.tasklang import load_task
from tests._extras import require

TASKS = Path(__file__).resolve().parents[1] / "tasks"


@pytest.fixture()
def library(tmp_path):
    lib = SkillLibrary(tmp_path / "lib")
    add_scripted_primitives(lib)
    return lib


def test_state_goal_alone_and_mixed_with_atoms(library):
    spec = load_task(TASKS / "stack_three.task")
    env = make_task_env(spec)
    obs, _ = env.reset(seed=2)
    goal = parse_targets(["cube_red=0.0,0.1"])
    trace = run_plan(env, obs, [("On", "cube_green", "cube_blue")], SkillSet(library), state_goal=goal)
    assert trace["success"], trace["reason"]
    assert "At(cube_red, 0.000,0.100)" in trace["goal"]
    assert any(d["step"].startswith("push(obj=cube_red") for d in trace["decisions"])
    red = env.unwrapped.body_pos("cube_red")
    assert np.linalg.norm(red[:2] - [0.0, 0.1]) < goal.tol_m


def test_bad_targets_are_user_errors(library):
    with pytest.raises(UserError, match="write OBJECT=X,Y"):
        parse_targets(["cube_red=0.1"])
    with pytest.raises(UserError, match="off the table"):
        parse_targets(["cube_red=3,0"])
    spec = load_task(TASKS / "stack_three.task")
    env = make_task_env(spec)
    obs, _ = env.reset(seed=0)
    with pytest.raises(UserError, match="not a cube or cylinder of this scene"):
        run_plan(env, obs, [], SkillSet(library), state_goal=parse_targets(["cabinet=0,0"]))


def test_learned_models_score_steps_and_monitor_predictions(library):
    torch = require("torch", extra="learn")
    torch.set_num_threads(1)
    from skill_rl.planning.skill_models import fit_skill_models

    spec = load_task(TASKS / "stack_three.task")
    cubes = ["cube_red", "cube_green", "cube_blue"]

    def binding(env, rng):
        a, b = rng.choice(cubes, 2, replace=False)
        return {"obj": str(a), "target": str(b)}

    fit_skill_models(library, "pick_place", lambda: make_task_env(spec), 12, params=binding, seed=0)
    skills = SkillSet(library)
    assert skills.has_models
    env = make_task_env(spec)
    obs, _ = env.reset(seed=0)
    trace = run_plan(env, obs, spec.goal, skills)
    first = trace["decisions"][0]
    assert first["classifier_p"] is not None and 0.0 <= first["classifier_p"] <= 1.0
    assert first["deviation_m"] is not None and first["deviation_m"] >= 0.0
    assert trace["success"], trace["reason"]
    # a binding the models cannot read (a drawer has no `_pos` field): the planner falls back to the prior
    spec = load_task(TASKS / "drawer_put_close.task")
    env = make_task_env(spec)
    obs, _ = env.reset(seed=0)
    trace = run_plan(env, obs, spec.goal, skills)
    into = [d for d in trace["decisions"] if d["step"] == "pick_place(obj=cube_red, target=cabinet)"]
    assert into and into[0]["classifier_p"] is None and into[0]["deviation_m"] is None
    assert trace["success"], trace["reason"]


def test_effects_learned_from_a_black_box_skill_enter_the_plan(tmp_path):
    from skill_rl.library import scripted_record

    lib = SkillLibrary(tmp_path / "lib")
    add_scripted_primitives(lib, names=["pick_place"])
    # a skill whose effects nobody declared: the planner only sees a name and learns what it does by running it
    lib.add(scripted_record("pick_place", name="tidy_red", bound={"obj": "cube_red", "target": "cube_blue"}))
    skills = SkillSet(lib)
    spec = load_task(TASKS / "stack_three.task")
    env = make_task_env(spec)
    learned = skills.learn_effects(env, seeds=range(2))
    assert [op.skill for op in learned] == ["tidy_red"]
    assert learned[0].add == {("On", "cube_red", "cube_blue")} and learned[0].source == "learned"
    no_declared = SkillSet(lib)
    no_declared.scripted.pop("pick_place")  # only the learned skill can stack red on blue now
    no_declared.learned = learned
    obs, _ = env.reset(seed=4)
    trace = run_plan(env, obs, [("On", "cube_red", "cube_blue")], no_declared)
    assert trace["success"], trace["reason"]
    assert [d["step"] for d in trace["decisions"]] == ["tidy_red()"]
