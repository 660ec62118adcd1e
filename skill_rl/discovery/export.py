"""Export a discovery run's skills into the skill library (``skill_rl.library``), loadable without training code.

Each skill becomes one library entry of kind ``"slim"`` (name ``<prefix>_z<i>``): ``policy.pt`` is a
TorchScript module ``forward(obs[B, obs_dim], z[B, z_dim]) -> action[B, act_dim]``, the SB3 actor's
deterministic action (``tanh`` of the Gaussian mean, rescaled to the action bounds), taking the **base** env
observation (without z) and the skill separately, as the library's SLIM primitive calls it; ``params`` holds
``z``, ``horizon`` (the run's episode length), ``skill_index``, ``n_skills``, ``discrete``, ``algo`` and the
source run; ``metrics`` the run's evaluation metrics plus the skill's own (``per_skill`` of ``summary.json``).
Discrete skills: every one-hot z. Continuous skills: the z values the run evaluated (``eval_skills_list``).

Why one entry per z rather than one entry with a z list: the library's primitives are called by name with
no arguments (``entry.load(env)``), so a planner can treat every skill as one primitive.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from torch import nn

from skill_rl.errors import UserError

__all__ = ["ExportError", "TorchSkillActor", "TorchSkillActorPPO", "export_run", "script_actor"]


class ExportError(UserError, ValueError):
    """The run cannot be exported (no policy, unfinished, unreadable)."""


class TorchSkillActor(nn.Module):
    """Deterministic π(obs, z): ``low + (tanh(μ(latent([obs, z]))) + 1) / 2 · (high − low)``."""

    def __init__(self, latent_pi: nn.Module, mu: nn.Module, low: np.ndarray, high: np.ndarray) -> None:
        super().__init__()
        self.latent_pi = latent_pi
        self.mu = mu
        self.register_buffer("low", th.as_tensor(np.asarray(low, np.float32)))
        self.register_buffer("high", th.as_tensor(np.asarray(high, np.float32)))

    def forward(self, obs: th.Tensor, z: th.Tensor) -> th.Tensor:
        a = th.tanh(self.mu(self.latent_pi(th.cat([obs, z], dim=1))))
        return self.low + 0.5 * (a + 1.0) * (self.high - self.low)


class TorchSkillActorPPO(nn.Module):
    """Deterministic π(obs, z) of a PPO policy: ``clamp(action_net(policy_net([obs, z])), low, high)``
    (SB3's PPO predicts the Gaussian mean and clips it to the bounds)."""

    def __init__(self, policy_net: nn.Module, action_net: nn.Module, low: np.ndarray, high: np.ndarray) -> None:
        super().__init__()
        self.policy_net = policy_net
        self.action_net = action_net
        self.register_buffer("low", th.as_tensor(np.asarray(low, np.float32)))
        self.register_buffer("high", th.as_tensor(np.asarray(high, np.float32)))

    def forward(self, obs: th.Tensor, z: th.Tensor) -> th.Tensor:
        a = self.action_net(self.policy_net(th.cat([obs, z], dim=1)))
        return th.minimum(th.maximum(a, self.low), self.high)


def script_actor(actor: Any) -> th.jit.ScriptModule:
    """TorchScript of an SB3 SAC ``Actor`` (:class:`TorchSkillActor`) or of a PPO ``ActorCriticPolicy``'s
    action path (:class:`TorchSkillActorPPO`); no gSDE, flat observations."""
    if getattr(actor, "use_sde", False):
        raise ExportError("exporting a gSDE actor is not supported (SLIM trains without gSDE)")
    space = actor.action_space
    if hasattr(actor, "mlp_extractor"):  # PPO
        ppo = TorchSkillActorPPO(copy.deepcopy(actor.mlp_extractor.policy_net).cpu(),
                                 copy.deepcopy(actor.action_net).cpu(), space.low, space.high).eval()
        return th.jit.script(ppo)
    module = TorchSkillActor(copy.deepcopy(actor.latent_pi).cpu(), copy.deepcopy(actor.mu).cpu(), space.low,
                             space.high).eval()
    return th.jit.script(module)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "slim"


def export_run(run_dir: str | Path, library: Any = None, prefix: str | None = None) -> list[Any]:
    """Add every skill of the discovery run ``run_dir`` to ``library`` (a ``SkillLibrary`` or its root;
    default: the default library). Returns the new entries (each a new version of its name)."""
    import yaml

    from skill_rl.library import SkillLibrary, SkillRecord, spec_of_env

    from .config import DiscoveryConfig
    from .factory import make_env
    from .policy import SkillPolicy
    from .rollouts import eval_skills_list

    run = Path(run_dir)
    policy_path, summary_path = run / "skill_policy.pt", run / "summary.json"
    if not policy_path.is_file():
        raise ExportError(f"{run} is not a finished discovery run: no skill_policy.pt in it")
    try:
        policy = SkillPolicy.load(policy_path)
    except Exception as exc:
        raise ExportError(f"cannot read {policy_path} ({type(exc).__name__}: {exc})") from None
    import json

    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    raw = yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").is_file() else {}
    known = {f for f in DiscoveryConfig.__dataclass_fields__}
    cfg = DiscoveryConfig(**{k: v for k, v in (raw or {}).items() if k in known})
    # the policy file knows its base (run folders from before ``base`` existed were SAC unless slim_ppo)
    cfg = dataclasses.replace(cfg, base="ppo" if policy.meta.get("policy_class") == "ppo" else "sac")
    cfg.video = False
    env = make_env(cfg)
    try:
        obs_spec, action_spec = spec_of_env(env)
        skills = eval_skills_list(env, cfg)
        horizon = int(getattr(env.spec, "max_episode_steps", None) or cfg.env_options.get("max_episode_steps") or 50)
        env_id = env.unwrapped.spec.id if env.unwrapped.spec is not None else cfg.env_id
    finally:
        env.close()
    lib = library if isinstance(library, SkillLibrary) else SkillLibrary(library)
    stem = _safe(prefix or f"{cfg.run_name}_{cfg.algo}_{cfg.base}")
    per_skill = {int(s["skill"]): s for s in summary.get("per_skill", [])}
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        pt = Path(tmp) / "policy.pt"
        th.jit.save(script_actor(policy.actor), str(pt))
        for sid, z in skills:
            metrics = {**summary.get("eval", {}), **{f"skill_{k}": v for k, v in per_skill.get(sid, {}).items()
                                                     if k != "skill"}}
            record = SkillRecord(
                name=f"{stem}_z{sid}", kind="slim", env_id=env_id, obs_spec=obs_spec, action_spec=action_spec,
                params={"z": [float(v) for v in np.asarray(z).reshape(-1)], "horizon": horizon, "skill_index": sid,
                        "n_skills": cfg.n_skills, "discrete": cfg.discrete_skills, "algo": cfg.algo,
                        "base": cfg.base,
                        "run_dir": str(run.resolve())},
                metrics=metrics,
                description=f"skill {sid} of {cfg.algo} ({cfg.base}) run {run.name} ({cfg.n_skills} "
                            f"{'discrete' if cfg.discrete_skills else 'continuous'} skills)")
            entries.append(lib.add(record, files={"policy.pt": pt}))
    return entries
