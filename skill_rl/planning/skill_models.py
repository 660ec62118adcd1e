"""Learned models of a skill for the planner: skill dynamics and an initiation/success classifier.

For a library skill, :func:`fit_skill_models` runs the skill from varied start states, then fits two small
torch MLPs and stores them as TorchScript in a new version of the library entry (``dynamics.pt``,
``classifier.pt``) with their held-out metrics:

* **dynamics**: start state -> state after the skill's step budget (end-effector position, the positions of
  the free objects it names, drawer openings), predicted as a change relative to a base chosen from the
  training data: the value's own start ("nothing moves" is then zero change) or another position, e.g. the
  place target. The metrics compare its held-out error with the nothing-moves baseline.
* **classifier**: start state -> P(the skill succeeds within its budget); compared with always answering
  the majority class.

Features are object-centric and named by role: for ``pick_place(obj, target)`` the inputs are
``eef_pos, gripper_qpos, {obj}_pos, {target}_pos`` and numeric arguments (``target_xy``, ``xyz``), so one
model serves any binding of the roles. Skills without object arguments (learned skills) use every object
of the scene. :class:`SkillModels` gathers the features for the planner and applies the models.

This module is the ``skill-rl skills fit-models`` run and re-exports the parts, each in its own module:
:mod:`.skill_features` (features), :mod:`.skill_rollouts` (rollouts, success), :mod:`.skill_nets` (the MLPs),
:mod:`.skill_fitting` (fit and store), :mod:`.skill_runtime` (``SkillModels``) and :mod:`.skill_plot`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skill_rl.errors import UserError
from skill_rl.library import SkillLibrary

from .skill_features import FeatureSpec, feature_spec
from .skill_fitting import SkillModelConfig, SkillModelsReport, fit_classifier, fit_dynamics, fit_skill_models
from .skill_nets import ClassifierNet, DynamicsNet
from .skill_plot import plot_heldout
from .skill_rollouts import Params, SkillRollouts, collect_rollouts, default_success
from .skill_runtime import SkillModels

__all__ = [
    "ClassifierNet", "DynamicsNet", "FeatureSpec", "FitModelsConfig", "SkillModelConfig", "SkillModels",
    "SkillModelsReport", "SkillRollouts", "collect_rollouts", "default_success", "feature_spec", "fit_classifier",
    "fit_dynamics", "fit_skill_models", "run_fit_models",
]


@dataclass
class FitModelsConfig:
    """``skill-rl skills fit-models``: fit one skill's models in a task scene and store them in the library.

    ``args`` binds the skill's arguments (``args={obj: cube_yellow, target: cube_red}``); ``sample`` draws a
    point argument per rollout uniformly from a box (``sample={xyz: [[-0.2, -0.3, 0.05], [0.2, 0.3, 0.35]]}``).
    """

    skill: str = "pick_place"
    task: str = "tasks/push_then_stack.task"
    library: str | None = None  # default: $SKILL_RL_LIBRARY or ~/.skill_rl/skills
    version: int | None = None  # default: the latest
    rollouts: int = 100
    args: dict[str, Any] = field(default_factory=lambda: {"obj": "cube_yellow", "target": "cube_red"})
    sample: dict[str, Any] = field(default_factory=dict)
    budget: int | None = None  # steps per rollout; default: the primitive's horizon
    wander_steps: int = 20
    seed: int = 0
    save_as: str | None = None  # store as a new skill with the arguments bound, instead of a new version
    model: SkillModelConfig = field(default_factory=SkillModelConfig)
    out_dir: str = "runs"
    debug: bool = False  # tiny: 8 rollouts, 30 epochs


def _sampler(args: dict[str, Any], sample: dict[str, Any]) -> Params:
    boxes = {}
    for name, box in sample.items():
        low, high = (np.asarray(b, dtype=np.float64) for b in box)
        if low.shape != high.shape or low.ndim != 1 or np.any(low > high):
            raise UserError(f"sample.{name} must be [[low...], [high...]] with low <= high, got {box}")
        boxes[name] = (low, high)
    if not boxes:
        return dict(args)
    return lambda env, rng: {**args, **{k: rng.uniform(lo, hi).tolist() for k, (lo, hi) in boxes.items()}}


def run_fit_models(cfg: FitModelsConfig, progress: bool = True) -> dict[str, Any]:
    """Fit and store a skill's models (see :func:`fit_skill_models`); write a run folder with config.yaml,
    metrics, a plot of held-out errors and summary.json. Returns the summary."""
    from skill_rl.envs import make_task_env
    from skill_rl.planning.tasklang import load_task
    from skill_rl.runs import start_run

    if cfg.debug:
        cfg.rollouts, cfg.model.epochs = min(cfg.rollouts, 8), min(cfg.model.epochs, 30)
    spec = load_task(cfg.task)
    library = SkillLibrary(cfg.library)
    library.get(cfg.skill, cfg.version)  # fail on a bad name before making a run folder
    params = _sampler(cfg.args, cfg.sample)
    with start_run(cfg.out_dir, f"skillmodels-{cfg.skill}", cfg) as run:
        report = fit_skill_models(
            library, cfg.skill, lambda: make_task_env(spec), cfg.rollouts, params=params, version=cfg.version,
            budget=cfg.budget, seed=cfg.seed, wander_steps=cfg.wander_steps, config=cfg.model, save_as=cfg.save_as,
            progress=progress,
        )
        dyn, clf = report.dynamics, report.classifier
        run.metrics.log({"dynamics/heldout_error_m": dyn["heldout_error_m"],
                         "dynamics/nothing_moves_error_m": dyn["nothing_moves_error_m"],
                         "classifier/heldout_accuracy": clf["heldout_accuracy"],
                         "classifier/majority_accuracy": clf["majority_accuracy"]}, step=cfg.rollouts)
        plot = plot_heldout(report, run.subdir("plots") / "heldout.png")
        summary = {
            "skill": cfg.skill, "task": cfg.task, "entry": report.entry.key, "library": str(library.root),
            "rollouts": cfg.rollouts, "success_rate": report.success_rate, "mean_steps": report.mean_steps,
            "dynamics": dyn, "classifier": clf, "features": report.features.to_dict(),
            "plot": str(plot) if plot else None, "run_dir": str(run.path),
        }
        run.write_summary(summary)
    return summary
