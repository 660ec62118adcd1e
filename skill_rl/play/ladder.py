"""The imitation ladder's first rungs on the play tasks: BC on the tasks' expert demos, with the core's recipe.

* rung a, per-task BC: one :class:`~skill_rl.imitation.policy.BCPolicy` per task, trained on that task's
  expert demos (:func:`~skill_rl.play.demos.collect_task_demos`), no goal input;
* rung b, multi-task goal-conditioned BC: one policy on all tasks' demos, the goal being each demo's final
  observation (the task's goal state), read through the play goal layout (the objects' state:
  ``PLAY_GOAL_KEYS``); evaluated with each episode's goal observation;
* rung c, Play-GCBC with the same recipe: one goal-conditioned policy on unsegmented play, each row's goal a
  later observation of its play episode (``BCRecipe.hindsight``), evaluated as rung b.

Both use the core's recipe (:class:`BCRecipe`: MLP 2 x 256, history 2, Gaussian head, normaliser with a std
floor, AdamW 1e-3 -> 1e-4 cosine, batch 32) and are evaluated with :func:`~skill_rl.play.tasks.rollout`
(success checked after every step) on the tasks' evaluation episodes (seed 0 starts; the demos start from
seed 1's). ``benchmarks/imitation.py`` runs the ladder; ``docs/play.md`` ("Imitation ladder") has the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import read_play_dataset
from .tasks import MOVED_M, REACHED_M, PlayTask, TaskEpisode, rollout
from .train import PLAY_GOAL_KEYS, arm_distances, goal_index, ignore_index

__all__ = ["BCRecipe", "evaluate_bc", "load_demos", "train_bc"]


@dataclass
class BCRecipe:
    """Policy and optimiser settings of a ladder run (saved with its results)."""

    history: int = 2
    hidden: int = 256
    layers: int = 2
    head: str = "gaussian"
    n_mix: int = 5  # mixture heads: components
    min_std: float = 1e-4  # gaussian / gmm heads: std floor
    nll_beta: float = 0.0
    ignore_obs_keys: list[str] = field(default_factory=list)  # e.g. ["joint_vel"]
    goal_keys: list[str] = field(default_factory=lambda: list(PLAY_GOAL_KEYS))  # rung b's goal features
    goal_delta: bool = False  # rung b: also feed goal - current on the goal features
    goal_film: bool = False  # rungs b, c: the goal features also scale and shift every hidden layer (FiLM)
    steps: int = 20000
    batch_size: int = 32
    lr: float = 1e-3
    lr_min: float = 1e-4
    weight_decay: float = 1e-4
    grad_clip: float = 100.0
    skip_stay: bool = True  # the demos' final "stay" row is the goal, not a training sample (see load_demos)
    balance_tasks: bool = False  # rung b: every batch draws each task's demos equally often (DemoSet.concat)
    # rung c (play): [low, high] = hindsight goals, the observation k in [low, high] steps later in the same play
    # episode (DemoSet.hindsight); [] = each demo's final observation (rungs a, b)
    hindsight: list[int] = field(default_factory=list)
    # rung c (play), how play rows get goals: "uniform" = hindsight's uniform offsets; "rest" = the next frame
    # where the goal features come to rest after moving, + rest_after steps (DemoSet.rest_goals: the segment-like
    # goals that the oracle segmentation showed are missing, from observations alone); rest_tol: the largest
    # per-step change of a goal feature that counts as still (m, or drawer m); rest_settle: steps it must last
    relabel: str = "uniform"
    rest_tol: float = 1e-3
    rest_settle: int = 5
    rest_after: int = 5
    rest_stay: int = 0  # rows just after a rest onset whose goal is that rest, i.e. where they are (rest_goal_rows)
    # > 0: a rest counts only once the arm gets this far (m) from what moved (a push's mid-way pauses do not)
    rest_away: float = 0.0
    # rows before the arm's approach to what moves next: "keep" their goal ahead, "stay" (own frame) or "drop";
    # "far": each row that is farther than rest_approach_far (m) from what moves next and not rest_approach_slack
    # closer to it over the next rest_approach_steps gets its own frame (rest_goal_rows)
    rest_before_approach: str = "keep"
    rest_approach_slack: float = 0.01  # m of distance noise the approach may have
    rest_approach_far: float = 0.12
    rest_approach_steps: int = 5
    # > 0: a lift that puts its object back (up more than rest_lift_rise m, back within rest_lift_back m) gives its
    # rows before the highest frame that frame as goal, since no rest shows a lifted object (rest_goal_rows)
    rest_lift_rise: float = 0.0
    rest_lift_back: float = 0.02
    # rung d (Play-LMP): a latent plan of latent_dim (0 = none) inferred from play windows of hindsight's length;
    # plan_steps of each window's steps per batch (batch_size // plan_steps windows), KL weight kl_beta
    latent_dim: int = 0
    plan_steps: int = 8
    kl_beta: float = 0.01
    recognition_stride: int = 1  # rung d: the recognition network reads every n-th step of a window (speed)
    # rung d: this fraction of each batch's policy rows are rung c's goal-conditioned rows, acted on with the
    # proposal's plan as when deployed (lmp.PlanRowsBatch); 0 = the paper's Play-LMP
    prior_rows: float = 0.0

    def __post_init__(self) -> None:
        if self.relabel not in ("uniform", "rest"):
            raise ValueError(f"relabel must be 'uniform' or 'rest', got {self.relabel!r}")
        if not 0.0 <= self.prior_rows < 1.0:
            raise ValueError(f"prior_rows must be in [0, 1), got {self.prior_rows!r}")
        if self.rest_before_approach not in ("keep", "stay", "drop", "far"):
            raise ValueError(f"rest_before_approach must be 'keep', 'stay', 'drop' or 'far', got "
                             f"{self.rest_before_approach!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_demos(paths: Sequence[str | Path], history: int, goal: bool, skip_stay: bool = True,
               balanced: bool = False, hindsight: Sequence[int] = (), rest: BCRecipe | None = None
               ) -> tuple[Any, Any]:
    """Demo files (play layout, one per task) -> (one :class:`~skill_rl.imitation.data.DemoSet` of all of them,
    the first file's read dataset, for its layout). All files must share the observation layout.

    ``skip_stay``: each demo's last row (the final observation with a "stay" action, appended so that the goal is
    part of the demo) is the goal but not a training sample. Trained on, it teaches "hover, gripper open, above
    an object": the end of a place's retreat looks like the start of a grasp (docs/play.md, "Imitation ladder").
    ``balanced``: batches draw each file (task) equally often; the tasks' demos differ up to 4x in length.
    ``hindsight`` ([low, high], with ``goal``): the files are play, and each row's goal is drawn from its own
    episode's future (:meth:`~skill_rl.imitation.data.DemoSet.hindsight`); play has no "stay" rows to skip.
    ``rest`` (a recipe with ``relabel="rest"``, with ``hindsight``): the goal is instead the next frame where the
    recipe's goal features come to rest (:meth:`~skill_rl.imitation.data.DemoSet.rest_goals`).
    """
    from skill_rl.imitation.data import DemoSet

    parts, first = [], None
    for p in paths:
        data = read_play_dataset(p, load_states=False)
        if first is None:
            first = data
        elif data.obs_keys != first.obs_keys:
            raise ValueError(f"{p}: observation keys {data.obs_keys} differ from {paths[0]}'s {first.obs_keys}")
        if hindsight and goal:
            if len(hindsight) != 2:
                raise ValueError(f"hindsight must be [low, high] goal offsets in steps, got {list(hindsight)}")
            if rest is not None and rest.relabel == "rest":
                cols = goal_index(data, rest.goal_keys) or list(range(data.flat_obs().shape[1]))
                arm_dist, groups = arm_distances(data, rest.goal_keys, dataset=str(p)) \
                    if rest.rest_away > 0 or rest.rest_before_approach != "keep" or rest.rest_lift_rise > 0 \
                    else (None, None)
                parts.append(DemoSet.rest_goals(data.flat_obs(), data.actions, data.episode_lengths, history, cols,
                                                rest.rest_tol, rest.rest_settle, rest.rest_after, rest.rest_stay,
                                                rest.rest_away, arm_dist, groups, rest.rest_before_approach,
                                                rest.rest_approach_slack, rest.rest_approach_far,
                                                rest.rest_approach_steps, rest.rest_lift_rise,
                                                rest.rest_lift_back))
            else:
                parts.append(DemoSet.hindsight(data.flat_obs(), data.actions, data.episode_lengths, history,
                                               (int(hindsight[0]), int(hindsight[1]))))
        else:
            parts.append(DemoSet.from_arrays(data.flat_obs(), data.actions, data.episode_lengths, history, goal,
                                             skip_last=skip_stay))
    if first is None:
        raise ValueError("no demo files given")
    return DemoSet.concat(parts, balanced), first


def train_bc(paths: Sequence[str | Path], recipe: BCRecipe, *, seed: int, goal: bool,
             ckpt_path: str | Path | None = None, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """Train a BC policy on the demo ``paths`` (``goal``: conditioned on each demo's final observation);
    returns the deployable :class:`~skill_rl.imitation.policy.HistoryPolicy` and a summary (fit's, plus the
    demos and steps used). Resumes from ``ckpt_path`` if it holds a checkpoint of this run."""
    import torch

    from skill_rl.imitation.policy import BCConfig, BCPolicy, HistoryPolicy
    from skill_rl.imitation.train import FitConfig, fit

    if recipe.prior_rows and not recipe.latent_dim:  # rows acted on under the proposal's plan: there must be one
        raise ValueError("prior_rows > 0 needs a latent plan (latent_dim > 0)")
    if recipe.latent_dim and not (goal and recipe.hindsight):
        raise ValueError("a latent plan (latent_dim > 0) is learnt from play windows: it needs goal=True and "
                         "hindsight=[low, high] (the windows' lengths)")
    demos, data = load_demos(paths, recipe.history, goal, recipe.skip_stay, recipe.balance_tasks, recipe.hindsight,
                             rest=recipe)
    cfg = BCConfig(obs_dim=demos.obs.shape[1], act_dim=demos.actions.shape[1], history=recipe.history,
                   hidden=recipe.hidden, layers=recipe.layers, head=recipe.head, n_mix=recipe.n_mix,
                   min_std=recipe.min_std, nll_beta=recipe.nll_beta,
                   goal_index=(goal_index(data, recipe.goal_keys) or list(range(demos.obs.shape[1]))) if goal
                   else None, goal_delta=recipe.goal_delta, goal_film=recipe.goal_film and goal, latent_dim=recipe.latent_dim,
                   ignore_index=ignore_index(data, recipe.ignore_obs_keys) if recipe.ignore_obs_keys else None)
    torch.manual_seed(seed)
    model = BCPolicy(cfg)
    model.set_normaliser(demos.obs.mean(0), demos.obs.std(0))
    learner, sample, batch = model, demos.sample, recipe.batch_size
    if recipe.latent_dim:  # Play-LMP: windows of play, the recognition network trains the plan
        from skill_rl.imitation.data import PlanWindows
        from skill_rl.imitation.lmp import PlanLearner

        windows = PlanWindows(demos, (int(recipe.hindsight[0]), int(recipe.hindsight[1])), recipe.plan_steps)
        learner, sample = PlanLearner(model, recipe.kl_beta, stride=recipe.recognition_stride), windows.sample
        n_rows = int(round(recipe.batch_size * recipe.prior_rows))
        batch = max(1, (recipe.batch_size - n_rows) // recipe.plan_steps)
        if n_rows:  # rung c's rows beside the windows, acted on with Ψ's plan
            from skill_rl.imitation.lmp import PlanRowsBatch

            def sample(rng: np.random.Generator, n: int) -> PlanRowsBatch:
                return PlanRowsBatch(windows.sample(rng, n), demos.sample(rng, n_rows))
    fit_cfg = FitConfig(steps=recipe.steps, batch_size=batch, lr=recipe.lr, lr_min=recipe.lr_min,
                        weight_decay=recipe.weight_decay, grad_clip=recipe.grad_clip, seed=seed,
                        ckpt_every=max(1000, recipe.steps // 5))
    summary = fit(learner, sample, fit_cfg, ckpt_path=ckpt_path, progress=progress, desc="bc")
    summary.update(demos=demos.n_episodes, demo_steps=len(demos.obs), train_samples=len(demos), obs_dim=cfg.obs_dim,
                   parameters=sum(p.numel() for p in model.parameters()))
    return HistoryPolicy(model, deterministic=True), summary


def evaluate_bc(policy: Any, task: PlayTask, episodes: Sequence[TaskEpisode], env: Any,
                horizon: int | None = None) -> dict[str, Any]:
    """Roll ``policy`` out on ``task``'s ``episodes`` (success checked every step); per-episode results and rates."""
    rows = [rollout(task, env, ep, policy, horizon=horizon) for ep in episodes]
    success = [bool(r["success"]) for r in rows]
    return {"episodes": len(rows), "success_rate": float(np.mean(success)), "success": success,
            "steps": [int(r["steps"]) for r in rows], "progress": [float(r["progress"]) for r in rows],
            "reached_rate": float(np.mean([r["success"] or r["reach_m"] < REACHED_M for r in rows])),
            "moved_rate": float(np.mean([r["success"] or r["moved_m"] > MOVED_M for r in rows]))}
