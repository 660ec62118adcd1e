"""The deployable Play-LMP / Play-GCBC policy: acting and save/load, nothing of the trainer.

::

    policy = LatentPlanPolicy.load("runs/lmp-.../policy.pt")
    policy.reset()
    obs, _ = env.reset(seed=0)
    while ...:
        action = policy.act(obs, goal)       # goal: a raw observation to reach, same layout as obs
        obs, *_ = env.step(action)

Re-planning (Play-LMP inference): every ``replan_every`` calls of ``act`` the plan proposal Ψ(z | s, s_g)
is evaluated at the current observation and one z is drawn (or its mean, ``deterministic=True``, unless
``sample_plan=True``: a drawn plan with the action mixture's mode, the paper's inference); in between, the
policy runs closed-loop with that z. The paper re-plans at about 1 Hz (32 steps at 30 Hz);
at the tabletop's 20 Hz control rate that is ``replan_every=20``. GCBC policies have no latent.

File format: ``torch.save`` of ``{"format": "skill_rl.play.policy/1", "config": <JSON text>, "state_dict":
{...}}``, loadable with ``torch.load(weights_only=True)`` (plain tensors and strings only), plus a
human-readable ``<name>.json`` sidecar with the same config (not needed to load).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skill_rl.imitation.policy import PolicyLoadError, read_policy_file, write_policy_file

from .models import ActorConfig, PlanActor

__all__ = ["FORMAT", "LatentPlanPolicy", "PolicyLoadError"]

FORMAT = "skill_rl.play.policy/1"


class LatentPlanPolicy:
    """Goal-conditioned policy from play: :class:`~skill_rl.play.models.PlanActor` + re-planning state.

    ``act(obs, goal)``: obs and goal are raw observations, (D,) or a batch (N, D) (one plan per row);
    returns actions in [-1, 1], (A,) or (N, A), float32 numpy. ``deterministic`` uses the proposal's mean
    and the action mixture's mode instead of sampling. ``sample_plan`` (default: ``not deterministic``)
    decides for the plan alone: the proposal is a single Gaussian over plans, and its mean can fall between
    the plans it covers (e.g. "go to the red cube" and "go to the blue cube"), so Lynch et al. draw one z.
    """

    def __init__(self, actor: PlanActor, replan_every: int = 20, deterministic: bool = False,
                 device: str | torch.device = "cpu", sample_plan: bool | None = None) -> None:
        if replan_every < 1:
            raise ValueError(f"replan_every must be >= 1, got {replan_every}")
        self.actor = actor.to(device).eval()
        self.replan_every = int(replan_every)
        self.deterministic = bool(deterministic)
        self.sample_plan = (not self.deterministic) if sample_plan is None else bool(sample_plan)
        self.device = torch.device(device)
        self._t = 0
        self._z: torch.Tensor | None = None

    @property
    def config(self) -> ActorConfig:
        return self.actor.cfg

    @property
    def is_latent(self) -> bool:
        return self.actor.proposal is not None

    def reset(self) -> None:
        """Forget the current plan (call at every episode start)."""
        self._t = 0
        self._z = None

    @torch.no_grad()
    def act(self, obs, goal) -> np.ndarray:
        o = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)
        g = torch.as_tensor(np.asarray(goal, dtype=np.float32), device=self.device)
        single = o.ndim == 1
        if single:
            o = o.unsqueeze(0)
        if g.ndim == 1:
            g = g.unsqueeze(0).expand(o.shape[0], -1)
        if o.shape[-1] != self.config.obs_dim or g.shape[-1] != self.config.obs_dim:
            raise ValueError(f"obs and goal must have {self.config.obs_dim} features, got {tuple(o.shape)} and "
                             f"{tuple(g.shape)}")
        z = None
        if self.is_latent:
            if self._z is None or self._t % self.replan_every == 0 or self._z.shape[0] != o.shape[0]:
                prior = self.actor.propose(o, g)
                self._z = prior.sample() if self.sample_plan else prior.mean
            z = self._z
        self._t += 1
        params = self.actor.action_params(o, g, z)
        a = self.actor.policy.mode(params) if self.deterministic else self.actor.policy.sample(params)
        a = a.cpu().numpy().astype(np.float32)
        return a[0] if single else a

    # ---------------------------------------------------------------------------------------- save / load
    def extra(self) -> dict[str, Any]:
        return {"replan_every": self.replan_every}

    def save(self, path: str | os.PathLike[str], meta: dict[str, Any] | None = None) -> Path:
        """Write ``path`` (weights + config, atomically) and a ``.json`` sidecar; returns ``path``."""
        config = {"actor": self.config.to_dict(), **self.extra(), "meta": meta or {}}
        return write_policy_file(path, FORMAT, config, self.actor)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, deterministic: bool = False,
             device: str | torch.device = "cpu", replan_every: int | None = None,
             sample_plan: bool | None = None) -> LatentPlanPolicy:
        """Load a policy written by :meth:`save` (safe: ``weights_only=True``).

        Raises :class:`PolicyLoadError` naming the file if it is missing, truncated/corrupt, not a policy
        file, or its weights do not match its config.
        """
        actor, config = read_policy_file(path, FORMAT, "play policy",
                                         lambda config: PlanActor(ActorConfig(**config["actor"])))
        every = replan_every if replan_every is not None else int(config.get("replan_every", 20))
        return cls(actor, replan_every=every, deterministic=deterministic, device=device, sample_plan=sample_plan)
