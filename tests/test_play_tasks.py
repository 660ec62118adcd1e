"""Named goal-reaching tasks in the play scene (skill_rl.play.tasks) and the task evaluation (`skill-rl play eval`).

Each task's scripted success must reach its success predicate from valid starts, and a valid start must not
already satisfy it; the evaluation in debug mode must write its table, CSV, bar plot and videos.
"""

from __future__ import annotations

import csv
import os

os.environ.setdefault("MUJOCO_GL", "osmesa")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from skill_rl.play.tasks import (  # noqa: E402
    MOVED_M,
    REACHED_M,
    TASKS,
    _start_record,
    make_play_env,
    reset_task,
    rollout,
    sample_episodes,
    start_ok,
    task_success,
)


@pytest.fixture(scope="module")
def env():
    e = make_play_env()
    yield e
    e.close()


def test_at_least_twelve_named_tasks_with_distinct_goals():
    assert len(TASKS) >= 12
    kinds = {t.script for t in TASKS.values()}
    assert {"push", "lift", "stack", "place", "open", "close"} <= kinds
    for name, task in TASKS.items():
        assert task.name == name and task.language
        assert task.goal or task.direction is not None


@pytest.mark.parametrize("name", list(TASKS))
def test_scripted_success_reaches_predicate_and_start_does_not(env, name):
    task = TASKS[name]
    episodes = sample_episodes(task, env, n=2, seed=0)
    for ep in episodes:
        reset_task(task, env, ep.seed)
        assert start_ok(task, env)
        assert not task_success(task, env, _start_record(env)), f"{name}: goal already holds at the start"
        # replaying the scripted success from the same start reaches the predicate (deterministic reset)
        scripted = _ScriptedReplay(task, env)
        out = rollout(task, env, ep, None, act=scripted.act, horizon=task.script_budget)
        assert out["success"], f"{name}: scripted success failed on seed {ep.seed}"
        # the phases see what the script did: the gripper reached the object (handle) and moved it
        assert out["reach_m"] < REACHED_M and out["moved_m"] > MOVED_M, (name, out["reach_m"], out["moved_m"])
        # the goal observation differs from the start where the task moves something
        assert np.abs(ep.goal_obs - ep.start_obs).max() > 0.01


class _ScriptedReplay:
    """The task's scripted primitive, built lazily at the first action (after rollout's reset)."""

    def __init__(self, task, env):
        self.task, self.env, self.prim = task, env, None

    def act(self, obs):
        from skill_rl.play.tasks import scripted_primitive

        if self.prim is None:
            self.prim = scripted_primitive(self.task, self.env)
        return np.clip(self.prim.act(obs), -1, 1).astype(np.float32)


def test_idle_policy_does_not_succeed(env):
    """A policy that does nothing never meets a task's goal: success is not free."""
    idle = np.zeros(7, dtype=np.float32)
    for name in ("push_red_left", "lift_blue", "stack_red_on_blue", "red_in_region", "open_drawer", "close_drawer"):
        task = TASKS[name]
        ep = sample_episodes(task, env, n=1, seed=1)[0]
        out = rollout(task, env, ep, None, act=lambda obs: idle, horizon=30)
        assert not out["success"], name
        # ... and reaches nothing and moves nothing (the phases are not free either)
        assert out["reach_m"] > REACHED_M and out["moved_m"] < MOVED_M, (name, out["reach_m"], out["moved_m"])


def test_eval_phases_are_zero_for_an_idle_policy():
    """evaluate_policies counts the phases per episode: a policy that never moves reaches and moves nothing."""
    from skill_rl.play.evaluate import evaluate_policies

    class Idle:
        def reset(self) -> None:
            pass

        def act(self, obs, goal):
            return np.zeros(7, dtype=np.float32)

    tasks = [TASKS["push_red_left"], TASKS["open_drawer"]]
    res = evaluate_policies({"idle": Idle()}, tasks, episodes=2, horizon=10)
    assert res["reached"]["idle"] == res["moved"]["idle"] == {"push_red_left": 0.0, "open_drawer": 0.0}


def test_push_direction_matters(env):
    """Pushing the red cube right does not count as pushing it left (relative goal on displacement)."""
    right, left = TASKS["push_red_right"], TASKS["push_red_left"]
    ep = sample_episodes(right, env, n=1, seed=0)[0]
    obs = reset_task(right, env, ep.seed)
    start = _start_record(env)
    scripted = _ScriptedReplay(right, env)
    for _ in range(right.script_budget):
        obs, *_ = env.step(scripted.act(obs))
        if scripted.prim.finished(obs):
            break
    assert task_success(right, env, start)
    assert not task_success(left, env, start)


def test_task_eval_debug_writes_table_plot_videos(tmp_path):
    """`skill-rl play eval --debug` path with two (untrained) saved policies: table, CSV, plot, videos."""
    from skill_rl.play.evaluate import PlayTaskEvalConfig, eval_tasks
    from skill_rl.play.models import ActorConfig, PlanActor
    from skill_rl.play.policy import LatentPlanPolicy

    env = make_play_env()
    dim = env.obs_dim
    env.close()
    paths = {}
    for algo, latent in (("lmp", 4), ("gcbc", 0)):
        actor = PlanActor(ActorConfig(obs_dim=dim, act_dim=7, latent_dim=latent, hidden=16, n_mix=2, n_bins=32))
        paths[algo] = str(LatentPlanPolicy(actor).save(tmp_path / f"{algo}.pt"))
    tasks = ["push_red_left", "lift_red", "open_drawer"]
    summary = eval_tasks(PlayTaskEvalConfig(lmp=paths["lmp"], gcbc=paths["gcbc"], tasks=tasks, debug=True,
                                            run_root=str(tmp_path / "runs"), progress=False, video_format="gif"))
    assert set(summary["per_task"]) == {"Play-LMP", "Play-GCBC"}
    assert list(summary["per_task"]["Play-LMP"]) == tasks
    with open(summary["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * len(tasks) and {r["task"] for r in rows} == set(tasks)
    for r in rows:  # the CSV carries the summary's phase rates
        assert float(r["reached_rate"]) == summary["reached_per_task"][r["policy"]][r["task"]]
        assert float(r["moved_rate"]) == summary["moved_per_task"][r["policy"]][r["task"]]
    table = open(summary["table"]).read()
    assert "average" in table and all(t in table for t in tasks)
    assert os.path.getsize(summary["plot"]) > 1000
    assert len(summary["videos"]) == 4 and all(os.path.getsize(v) > 0 for v in summary["videos"])
    assert summary["replan_every"]["Play-LMP"] == 20



def test_task_eval_runs_imitation_ladder_policies_beside_play_policies(tmp_path):
    """`extra` takes the ladder's policy files (imitation core) as well as Play-LMP/GCBC's: one table."""
    from skill_rl.errors import UserError
    from skill_rl.imitation.policy import BCConfig, BCPolicy, HistoryPolicy
    from skill_rl.play.evaluate import PlayTaskEvalConfig, eval_tasks
    from skill_rl.play.models import ActorConfig, PlanActor
    from skill_rl.play.policy import LatentPlanPolicy

    env = make_play_env()
    dim = env.obs_dim
    env.close()
    lmp = LatentPlanPolicy(PlanActor(ActorConfig(obs_dim=dim, act_dim=7, latent_dim=4, hidden=16, n_mix=2,
                                                 n_bins=32))).save(tmp_path / "lmp.pt")
    bc = BCPolicy(BCConfig(obs_dim=dim, act_dim=7, hidden=16, goal_index=list(range(dim))))
    bc.set_normaliser(np.zeros(dim), np.ones(dim))
    multitask = HistoryPolicy(bc).save(tmp_path / "multitask_bc.pt")
    summary = eval_tasks(PlayTaskEvalConfig(lmp=str(lmp), extra={"multitask-bc": str(multitask)},
                                            tasks=["open_drawer"], episodes=1, horizon=5, videos=0,
                                            run_root=str(tmp_path / "runs"), progress=False))
    assert list(summary["per_task"]) == ["Play-LMP", "multitask-bc"]
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a policy")
    with pytest.raises(UserError, match="bad.pt"):
        eval_tasks(PlayTaskEvalConfig(extra={"x": str(bad)}, tasks=["open_drawer"], episodes=1, videos=0,
                                      run_root=str(tmp_path / "runs"), progress=False))

def test_task_eval_random_baseline_only(tmp_path):
    """random_baseline=true with no policy evaluates the uniform-random policy alone (chance level)."""
    from skill_rl.play.evaluate import PlayTaskEvalConfig, eval_tasks

    summary = eval_tasks(PlayTaskEvalConfig(random_baseline=True, tasks=["open_drawer"], episodes=2, horizon=5,
                                            videos=0, run_root=str(tmp_path), progress=False))
    assert list(summary["per_task"]) == ["random"] and summary["per_task"]["random"]["open_drawer"] == 0.0


def test_task_eval_rejects_unknown_task(tmp_path):
    from skill_rl.errors import UserError
    from skill_rl.play.evaluate import PlayTaskEvalConfig, eval_tasks

    with pytest.raises(UserError, match="unknown task"):
        eval_tasks(PlayTaskEvalConfig(tasks=["fly_to_the_moon"], run_root=str(tmp_path)))


def test_eval_config_file_matches_defaults():
    from pathlib import Path

    from skill_rl.config import load_config
    from skill_rl.play.evaluate import PlayTaskEvalConfig

    repo = Path(__file__).resolve().parents[1]
    assert load_config(PlayTaskEvalConfig, repo / "configs" / "play_eval.yaml") == PlayTaskEvalConfig()
