"""Evaluate a finished discovery run (or one of its checkpoints) again, into its own ``eval-<stamp>/`` folder."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from .checkpoints import CheckpointError, load_checkpoint
from .config import DiscoveryConfig, DiscoveryError
from .factory import make_env
from .report import write_report
from .rollouts import evaluate_skills, rollout_skills

__all__ = ["evaluate_run"]


def evaluate_run(path: str | Path, *, episodes_per_skill: int | None = None, video: bool | None = None) -> dict[str, Any]:
    """Evaluate a finished run (its ``skill_policy.pt``) or one of its checkpoints (``ckpt/step_<n>.zip``)
    again, into ``<run>/eval-<stamp>/``: ``summary.json`` (metrics, per-skill metrics), plots and the skill
    video grid (``video``: None = as the run's config says). The run's ``config.yaml`` gives the env and
    skills."""
    import json

    from skill_rl.config import load_config

    from .metrics import per_skill_summary
    from .policy import SkillPolicy

    p = Path(path)
    run_path = p.parent.parent if p.suffix == ".zip" else p
    if not (run_path / "config.yaml").is_file():
        raise DiscoveryError(f"{p} is neither a discovery run folder nor a checkpoint in one (no config.yaml in {run_path})")
    cfg = load_config(DiscoveryConfig, run_path / "config.yaml")
    cfg = dataclasses.replace(cfg, video=cfg.video if video is None else video,
                              eval_episodes_per_skill=episodes_per_skill or cfg.eval_episodes_per_skill)
    env = make_env(cfg)
    try:
        if p.suffix == ".zip":
            model = load_checkpoint(p, device=cfg.device, replay_buffer=False)
            policy = SkillPolicy.from_model(model, cfg.n_skills, cfg.discrete_skills, env.obs_layout)
            source = str(p)
        else:
            if not (run_path / "skill_policy.pt").is_file():
                raise CheckpointError(f"no skill_policy.pt in {run_path}; evaluate a checkpoint (ckpt/step_<n>.zip)")
            policy = SkillPolicy.load(run_path / "skill_policy.pt")
            source = str(run_path / "skill_policy.pt")
        out_dir = run_path / f"eval-{time.strftime('%Y%m%d-%H%M%S')}"
        rollouts = rollout_skills(policy, env, cfg)
        metrics = evaluate_skills(policy, env, cfg, rollouts=rollouts)
        summary: dict[str, Any] = {"run_dir": str(run_path), "source": source, "algo": cfg.algo, "eval": metrics,
                                   "eval_dir": str(out_dir)}
        if rollouts:
            summary["per_skill"] = per_skill_summary(rollouts["initial_xy"], rollouts["final_xy"],
                                                     rollouts["skill_ids"], rollouts["grasped"],
                                                     rollouts["episode_violations"])
        summary.update(write_report(run_path, policy, env, cfg, rollouts, out_dir=out_dir))
    finally:
        env.close()
    from skill_rl.runs import atomic_write_text, to_jsonable

    atomic_write_text(out_dir / "summary.json", json.dumps(to_jsonable(summary), indent=2))
    return summary
