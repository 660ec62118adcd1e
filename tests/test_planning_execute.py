"""Monitored execution: plans run to the goal, an injected mid-plan failure is detected and recovered from,
a missing skill ends with a clear reason, and the `skill-rl plan` command writes its run folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skill_rl.envs import make_task_env
from skill_rl.library import SkillLibrary, add_scripted_primitives
from skill_rl.planning.execute import DropObject, ExecConfig, SkillSet, run_plan
from skill_rl.planning.tasklang import load_task

TASKS = Path(__file__).resolve().parents[1] / "tasks"


@pytest.fixture(scope="module")
def skills(tmp_path_factory):
    lib = SkillLibrary(tmp_path_factory.mktemp("lib"))
    add_scripted_primitives(lib)
    return SkillSet(lib)


@pytest.mark.parametrize("task", ["stack_three", "drawer_put_close"])
def test_planner_reaches_the_goal(task, skills):
    spec = load_task(TASKS / f"{task}.task")
    env = make_task_env(spec)
    obs, _ = env.reset(seed=5)
    trace = run_plan(env, obs, spec.goal, skills)
    assert trace["success"], trace["reason"]
    assert all(env.unwrapped.task.goal_truth(env.unwrapped).values())
    assert trace["decisions"][0]["replanned"] and trace["decisions"][0]["plan_complete"]
    assert [d["event"] for d in trace["decisions"]] == ["ok"] * len(trace["decisions"])
    json.dumps(trace)  # the trace is JSON as it is


def test_planner_clears_a_blocking_cube_first(skills):
    spec = load_task(TASKS / "unstack_then_sort.task")
    env = make_task_env(spec)
    obs, _ = env.reset(seed=3)
    assert ("On", "cube_red", "cube_blue") in {a for a in spec.init}
    trace = run_plan(env, obs, spec.goal, skills)
    assert trace["decisions"][0]["plan"] == ["pick_place(obj=cube_red, target=cube_green)",
                                             "pick_place(obj=cube_blue, target=goal_region)"]
    assert trace["success"], trace["reason"]


def test_injected_drop_mid_plan_is_detected_and_recovered(skills):
    spec = load_task(TASKS / "stack_three.task")
    env = make_task_env(spec)
    obs, _ = env.reset(seed=1)
    dropped = []

    def inject(decision, op, prim):  # the first carry of the plan drops its cube
        if decision == 0:
            dropped.append(str(op))
            return DropObject(prim, after_steps=2)  # in the lift: the cube falls back (6 now lands it on the target)
        return prim

    trace = run_plan(env, obs, spec.goal, skills, inject=inject)
    first = trace["decisions"][0]
    assert dropped == [first["step"]]
    assert first["event"].startswith("failed: effects not reached: On(cube_red, cube_blue)")
    assert trace["decisions"][1]["replanned"]
    assert trace["success"], trace["reason"]
    assert trace["failures"] == 1 and trace["replans"] == 2


def test_repeated_failure_gives_up_with_the_reason(skills):
    spec = load_task(TASKS / "stack_three.task")
    env = make_task_env(spec)
    obs, _ = env.reset(seed=2)
    trace = run_plan(env, obs, spec.goal, skills, inject=lambda i, op, prim: DropObject(prim, after_steps=4),
                     config=ExecConfig(max_decisions=12, max_attempts_per_step=2))
    assert not trace["success"]
    assert "no plan" in trace["reason"] or "budget" in trace["reason"]
    assert "excluded" in " ".join(d["event"] for d in trace["decisions"])


def test_missing_skill_reports_why(tmp_path):
    lib = SkillLibrary(tmp_path / "lib")
    add_scripted_primitives(lib, names=["pick_place", "close_drawer"])
    spec = load_task(TASKS / "drawer_put_close.task")
    env = make_task_env(spec)
    obs, _ = env.reset(seed=0)
    trace = run_plan(env, obs, spec.goal, SkillSet(lib))
    assert trace["outcome"] == "gave_up"
    assert trace["reason"].startswith("no plan: no applicable skill makes progress towards InDrawer(cube_red, cabinet)")


def test_empty_library_is_a_user_error(tmp_path):
    from skill_rl.errors import UserError

    with pytest.raises(UserError, match="add-scripted"):
        SkillSet(SkillLibrary(tmp_path / "empty"))


def test_plan_cli_writes_trace_summary_and_video(tmp_path, monkeypatch):
    from skill_rl.cli import app

    lib = tmp_path / "lib"
    add_scripted_primitives(SkillLibrary(lib))
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    res = CliRunner().invoke(app, ["plan", "--goal", str(TASKS / "push_then_stack.task"), "--skills", str(lib),
                                   "--runs", str(tmp_path / "runs"), "--debug"])
    assert res.exit_code == 0, res.output
    assert "plan for push_then_stack: pick_place(obj=cube_red, target=goal_region) -> " in res.output
    run = next((tmp_path / "runs").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    trace = json.loads((run / "trace.json").read_text())
    assert summary["success"] and trace["task"] == "push_then_stack"
    assert (run / "videos" / "plan.mp4").stat().st_size > 1000
    assert (run / "config.yaml").exists() and (run / "metrics.csv").exists()
    bad = CliRunner().invoke(app, ["plan", "--goal", str(tmp_path / "nope.task"), "--no-video"])
    assert bad.exit_code == 2 and "task file not found" in bad.output
