"""The exported skill policy: the actor alone (no critics, discriminators or optimisers).

What goes into the skill library and onto a robot is this file: ``SkillPolicy.save(path)`` writes the SB3
actor's constructor arguments, weights and the skill metadata (number of skills, discrete or not, the
observation layout) atomically with ``torch.save``; ``SkillPolicy.load(path)`` rebuilds it.

SAC-based runs store SB3's SAC ``Actor``. PPO-based runs (``MultiHeadPPO``) store the ``ActorCriticPolicy``
(SB3 has no separate PPO actor; its value heads ride along, a few hundred numbers, and are never used here;
the library export keeps the action path only), marked ``meta["policy_class"] = "ppo"``.
``act(obs, skill)`` appends the skill to a base-env observation and returns the (deterministic by default)
action in the env's action space.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.sac.policies import Actor

from skill_rl.fileio import atomic_path

__all__ = ["SkillPolicy"]


class SkillPolicy:
    """π(a | s, z) exported from a trained SLIM/SAC model (``model.actor``)."""

    def __init__(self, actor: Any, meta: dict[str, Any]) -> None:
        self.actor = actor.eval()
        self.meta = dict(meta)
        self.n_skills = int(meta["n_skills"])
        self.discrete = bool(meta["discrete"])

    @classmethod
    def from_model(cls, model: Any, n_skills: int, discrete: bool, obs_layout: dict[str, slice] | None = None,
                   **extra: Any) -> SkillPolicy:
        layout = {k: [s.start, s.stop] for k, s in (obs_layout or {}).items()}
        meta = {"n_skills": n_skills, "discrete": discrete, "obs_layout": layout, **extra}
        if hasattr(model, "actor") and model.actor is not None:
            return cls(model.actor, meta)
        return cls(model.policy, {**meta, "policy_class": "ppo"})

    def skill_vector(self, skill: Any) -> np.ndarray:
        if self.discrete and np.isscalar(skill):
            z = np.zeros(self.n_skills, np.float32)
            z[int(skill)] = 1.0
            return z
        return np.asarray(skill, np.float32).reshape(self.n_skills)

    def act(self, obs: np.ndarray, skill: Any | None = None, deterministic: bool = True) -> np.ndarray:
        """Action for one observation. ``skill`` None: ``obs`` already ends with the skill vector."""
        obs = np.asarray(obs, np.float32)
        if skill is not None:
            obs = np.concatenate([obs, self.skill_vector(skill)])
        action, _ = self.actor.predict(obs, deterministic=deterministic)
        return action

    def save(self, path: str | os.PathLike[str]) -> Path:
        payload = {"data": self.actor._get_constructor_parameters(), "state_dict": self.actor.state_dict(),
                   "meta": self.meta}
        with atomic_path(path) as tmp:
            th.save(payload, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str = "cpu") -> SkillPolicy:
        saved = th.load(path, map_location=device, weights_only=False)
        if saved["meta"].get("policy_class") == "ppo":
            from .ppo import MultiHeadActorCriticPolicy

            actor = MultiHeadActorCriticPolicy(**saved["data"])
        else:
            actor = Actor(**saved["data"])
        actor.load_state_dict(saved["state_dict"])
        return cls(actor.to(device), saved["meta"])
