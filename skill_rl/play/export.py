"""Export a trained Play-LMP / Play-GCBC policy into the skill library, as TorchScript (no training code to load).

Play-LMP becomes a ``play_lmp`` skill: ``proposal.pt`` ``forward(obs[B, D], goal[B, D]) -> z[B, Z]`` (the
proposal's mean) and ``policy.pt`` ``forward(obs, goal, z) -> action[B, A]``; Play-GCBC becomes a ``bc`` skill
with ``policy.pt`` ``forward(obs, goal) -> action``. Both take raw observations (the normaliser is inside)
and act deterministically (the action mixture's mode), exactly as
``LatentPlanPolicy.load(path, deterministic=True)`` does; the library re-plans every ``replan_every`` steps.

::

    entry = export_play_policy("runs/lmp-.../policy.pt", SkillLibrary(root), name="play_lmp_tabletop")
    prim = entry.load(env, goal=goal_obs)   # a goal observation of the play scene
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .models import PlanActor
from .policy import LatentPlanPolicy

__all__ = ["export_play_policy", "torchscript_modules"]

PLAY_ENV_ID = "skill_rl/TabletopPlay-v0"


class _Normalise(nn.Module):
    def __init__(self, actor: PlanActor) -> None:
        super().__init__()
        self.register_buffer("mean", actor.obs_mean.detach().clone())
        self.register_buffer("std", actor.obs_std.detach().clone())
        self.register_buffer("keep", actor.obs_keep.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std * self.keep


class _GoalInput(nn.Module):
    """Raw obs and goal observation (B, D) -> the actor's goal input (B, goal_dim) (``PlanActor.goal_input``)."""

    def __init__(self, actor: PlanActor) -> None:
        super().__init__()
        self.norm = _Normalise(actor)
        self.register_buffer("idx", actor.goal_idx.detach().clone())
        self.delta = bool(actor.cfg.goal_delta)

    def forward(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        g = self.norm(goal).index_select(-1, self.idx)
        if not self.delta:
            return g
        o = self.norm(obs).index_select(-1, self.idx)
        return torch.cat([g, g - o], dim=-1)


class ProposalMean(nn.Module):
    """Ψ's mean plan for raw (B, D) obs and goal -> (B, Z)."""

    def __init__(self, actor: PlanActor) -> None:
        super().__init__()
        assert actor.proposal is not None
        self.norm = _Normalise(actor)
        self.goal_in = _GoalInput(actor)
        self.net = actor.proposal.net
        self.latent_dim = int(actor.cfg.latent_dim)

    def forward(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        params = self.net(torch.cat([self.norm(obs), self.goal_in(obs, goal)], dim=-1))
        return params[:, : self.latent_dim]


def _mode(out: torch.Tensor, act_dim: int, n_mix: int) -> torch.Tensor:
    """Mixture head output (B, 3*A*K) -> the mean of each dim's most probable component, (B, A)."""
    out = out.view(out.shape[0], act_dim, 3 * n_mix)
    logits, means = out[:, :, :n_mix], torch.tanh(out[:, :, n_mix: 2 * n_mix])
    return means.gather(-1, logits.argmax(-1, keepdim=True)).squeeze(-1).clamp(-1.0, 1.0)


class LatentPolicyMode(nn.Module):
    """π(a | s, s_g, z) mode for raw obs/goal (B, D) and plan z (B, Z) -> action (B, A)."""

    def __init__(self, actor: PlanActor) -> None:
        super().__init__()
        self.norm = _Normalise(actor)
        self.goal_in = _GoalInput(actor)
        self.trunk = actor.policy.trunk
        self.proj = actor.policy.head.proj
        self.act_dim, self.n_mix = int(actor.cfg.act_dim), int(actor.cfg.n_mix)

    def forward(self, obs: torch.Tensor, goal: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = self.trunk(torch.cat([self.norm(obs), self.goal_in(obs, goal), z], dim=-1))
        return _mode(self.proj(h), self.act_dim, self.n_mix)


class GoalPolicyMode(LatentPolicyMode):
    """Play-GCBC π(a | s, s_g) mode for raw obs/goal (B, D) -> action (B, A): the same parts, no plan input."""

    def forward(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        h = self.trunk(torch.cat([self.norm(obs), self.goal_in(obs, goal)], dim=-1))
        return _mode(self.proj(h), self.act_dim, self.n_mix)


def torchscript_modules(policy: LatentPlanPolicy) -> dict[str, torch.jit.ScriptModule]:
    """``{"policy.pt": ..., "proposal.pt": ...}`` (proposal only for Play-LMP), scripted copies in eval mode."""
    actor = policy.actor.cpu().eval()
    if policy.is_latent:
        return {"policy.pt": torch.jit.script(LatentPolicyMode(actor)), "proposal.pt": torch.jit.script(ProposalMean(actor))}
    return {"policy.pt": torch.jit.script(GoalPolicyMode(actor))}


def export_play_policy(policy_path: str | Path, library: Any, *, name: str = "", horizon: int = 200,
                       replan_every: int | None = None, metrics: dict[str, Any] | None = None,
                       description: str = "") -> Any:
    """Store the policy at ``policy_path`` (from ``skill-rl play train``) in ``library`` (a
    :class:`skill_rl.library.SkillLibrary`) as a ``play_lmp`` (Play-LMP) or ``bc`` (Play-GCBC) skill of the
    play scene; returns the new :class:`~skill_rl.library.SkillEntry` (the next version of ``name``)."""
    from skill_rl import envs
    from skill_rl.library import SkillRecord, spec_of_env

    policy = LatentPlanPolicy.load(policy_path, deterministic=True)
    kind = "play_lmp" if policy.is_latent else "bc"
    env = envs.make(PLAY_ENV_ID)
    try:
        obs_spec, action_spec = spec_of_env(env)
    finally:
        env.close()
    if obs_spec.dim != policy.config.obs_dim or action_spec.dim != policy.config.act_dim:
        from skill_rl.library import SpecMismatchError

        raise SpecMismatchError(f"{policy_path}: policy has obs/action dims {policy.config.obs_dim}/"
                                f"{policy.config.act_dim}, {PLAY_ENV_ID} has {obs_spec.dim}/{action_spec.dim}")
    params: dict[str, Any] = {"horizon": int(horizon), "source": str(policy_path), "goal_conditioned": True}
    if kind == "play_lmp":
        params["replan_every"] = int(replan_every or policy.replan_every)
    record = SkillRecord(name=name or ("play_lmp" if kind == "play_lmp" else "play_gcbc"), kind=kind,
                         env_id=PLAY_ENV_ID, obs_spec=obs_spec, action_spec=action_spec, params=params,
                         metrics=dict(metrics or {}),
                         description=description or f"{'Play-LMP' if kind == 'play_lmp' else 'Play-GCBC'} goal-"
                                                    "conditioned policy from play; load with goal=<observation>")
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for fname, module in torchscript_modules(policy).items():
            torch.jit.save(module, str(Path(tmp) / fname))
            files[fname] = Path(tmp) / fname
        return library.add(record, files=files)
