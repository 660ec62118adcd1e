"""The procedural suite generator: task files in the task language, distinct tasks, solvable by the demonstrator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skill_rl.lifelong.demos import generate_demos
from skill_rl.lifelong.generate import generate_suite, write_suite
from skill_rl.lifelong.suites import SuiteError, get_suite
from skill_rl.planning.tasklang import load_task
from skill_rl.play.dataset import read_play_dataset

SUITES = ["tabletop-spatial", "tabletop-object", "tabletop-goal", "tabletop-long"]


@pytest.mark.parametrize("suite", SUITES)
def test_generator_makes_ten_distinct_valid_tasks(suite: str) -> None:
    specs = generate_suite(suite, 10, seed=0)
    assert len(specs) == 10
    assert len({s.language for s in specs}) == 10 and len({s.name for s in specs}) == 10
    for s in specs:
        s.validate()
    assert generate_suite(suite, 10, seed=0) == specs  # seeded: reproducible


def test_suites_isolate_their_knowledge_type() -> None:
    spatial = generate_suite("tabletop-spatial")
    assert len({tuple(o.name for o in s.objects) for s in spatial}) == 1  # same objects ...
    assert len({s.init for s in spatial}) == 10  # ... different layouts
    goal = generate_suite("tabletop-goal")
    assert len({(s.objects, s.regions, s.init) for s in goal}) == 1  # one scene ...
    assert len({s.goal for s in goal}) == 10  # ... different goals
    obj = generate_suite("tabletop-object")
    assert len({s.goal[0][1] for s in obj}) == 5 and all(len(s.goal) == 1 for s in obj)  # different objects
    assert all(len(s.goal) == 2 for s in generate_suite("tabletop-long"))  # two-step goals


def test_write_and_load_suite(tmp_path: Path) -> None:
    paths = write_suite("tabletop-goal", n_tasks=3, out_dir=tmp_path)
    assert [p.name[:3] for p in paths] == ["00_", "01_", "02_"]
    suite = get_suite("tabletop-goal", root=tmp_path)
    assert [t.language for t in suite.tasks] == [s.language for s in generate_suite("tabletop-goal", 3)]
    assert load_task(paths[0]) == generate_suite("tabletop-goal", 1)[0]
    with pytest.raises(SuiteError, match="unknown suite"):
        generate_suite("tabletop-nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SuiteError, match=r"no \*\.task files"):
        get_suite("x", root=empty)


def test_scripted_demos_of_a_generated_suite(tmp_path: Path) -> None:
    write_suite("tabletop-long", n_tasks=1, out_dir=tmp_path / "tasks")
    suite = get_suite("tabletop-long", root=tmp_path / "tasks")
    stats = generate_demos(suite, tmp_path / "demos", 2, max_steps=400, progress=False)
    s = stats[suite.tasks[0].name]
    data = read_play_dataset(s["path"])
    assert len(data.demo_names) == 2 and s["success_rate"] > 0
    assert data.env_args["language"] == suite.tasks[0].language
    assert "(:goal" in data.env_args["task_file_content"]
    assert np.all(data.rewards[data.episode_ends - 1] == 1.0)


@pytest.mark.slow
@pytest.mark.parametrize("suite", SUITES)
def test_demonstrator_solves_every_generated_task(tmp_path: Path, suite: str) -> None:
    write_suite(suite, out_dir=tmp_path / "tasks")
    stats = generate_demos(get_suite(suite, root=tmp_path / "tasks"), tmp_path / "demos", 5, max_steps=600,
                           max_attempts_factor=2.0, progress=False)
    assert all(s["success_rate"] >= 0.5 for s in stats.values()), stats


def test_suite_from_folder_keeps_its_name_and_task_names(tmp_path: Path) -> None:
    write_suite("tabletop-object", n_tasks=2, out_dir=tmp_path)
    suite = get_suite("tabletop-object", root=tmp_path)
    assert suite.name == "tabletop-object"
    assert [t.name for t in suite.tasks] == [s.name for s in generate_suite("tabletop-object", 2)]


def _with_timer_bumped(demo, steps: int):
    """A copy of a running ``ScriptedDemonstrator`` whose current primitive has spent ``steps`` more steps in
    its phase (everything else equal): the hidden state an observation does not show."""
    import copy

    clone = copy.copy(demo)
    clone.log = list(demo.log)
    clone.current = copy.copy(demo.current)
    clone.current.motion = copy.copy(demo.current.motion)
    clone.current.motion.memory = dict(demo.current.motion.memory)
    clone.current.motion.timer += steps
    return clone


@pytest.mark.parametrize("task", [0, 1])  # open the drawer, then pick & place (into it) / close it
def test_long_demonstrator_acts_on_the_observation_not_on_timers(task: int) -> None:
    """Issue 18: tabletop-long was unlearnable because its demonstrator switched phases on timers (grasp ->
    pull, release -> retreat, retreat -> next primitive) that the observation does not show. Now every switch
    acts on an observable condition: a demonstrator that has spent 3 more steps in its phase acts the same on
    every observation of an episode, and no timer fallback fires."""
    from skill_rl.envs.tabletop import experts

    t = get_suite("tabletop-long").tasks[task]
    env = t.factory.make(max_episode_steps=300)
    demo = t.factory.demonstrator(env)
    obs, _ = env.reset(seed=1_000_000)
    demo.reset()
    experts.FALLBACKS.clear()
    compared, success = 0, False
    for _ in range(300):
        motion = demo.current.motion if demo.current is not None else None
        if motion is not None and motion.timer + 3 < 20:  # below every fallback timer
            bumped = _with_timer_bumped(demo, 3).act(obs)
            action = demo.act(obs)
            np.testing.assert_allclose(bumped, action, atol=1e-6, err_msg=f"{demo.log[-1]}: phase {motion.phase}")
            compared += 1
        else:
            action = demo.act(obs)
        obs, _, _, _, info = env.step(action)
        if info["is_success"]:
            success = True
            break
    env.close()
    assert success, demo.log
    assert compared > 50
    assert not experts.FALLBACKS, dict(experts.FALLBACKS)


def test_a_timer_fallback_is_counted() -> None:
    from skill_rl.envs import make
    from skill_rl.envs.tabletop import experts

    env = make("TabletopPickPlace-v0")
    obs, _ = env.reset(seed=0)
    expert = experts.make_expert(env)
    experts.FALLBACKS.clear()
    obs = obs.copy()
    obs[env.unwrapped.obs_layout["gripper_qpos"]] = 0.018  # the fingers still on a 4 cm cube
    expert.goto("release")
    expert.act(obs)  # not yet opened: stays
    assert expert.phase == "release" and not experts.FALLBACKS
    expert.timer = 21
    expert.act(obs)
    assert expert.phase == "retreat" and experts.FALLBACKS == {"PickPlaceExpert.release": 1}
    env.close()
