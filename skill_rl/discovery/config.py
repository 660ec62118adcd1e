"""The settings of one discovery run (:class:`DiscoveryConfig`), its debug form and its checks.

Why separate: the config is read by the CLI, the Ray sweep and the benchmarks without importing torch.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from skill_rl.errors import UserError

from .algorithms import ALGORITHMS, BASES, intrinsic_kinds

__all__ = ["TERMS", "DiscoveryConfig", "DiscoveryError", "check_config", "batch_size_of", "debug_config", "n_envs_of",
           "torch_threads_of"]

TERMS = ("discovery", "reach", "safety")  # the reward terms a multi-term algorithm may train on


class DiscoveryError(UserError, ValueError):
    """The discovery config cannot be run (unknown term, bad sizes)."""


@dataclass
class DiscoveryConfig:
    """Settings of ``skill-rl discover`` (``configs/slim_push.yaml`` and ``configs/discovery_*.yaml``)."""

    algo: str = "slim"  # a name in algorithms.ALGORITHMS (slim_ppo: legacy alias of slim on ppo)
    base: str = "ppo"  # algorithms.BASES: the actor-critic underneath, PPO value heads or SAC twin-Q critics
    env_id: str = "TabletopPush-v0"
    env_options: dict[str, Any] = field(default_factory=dict)  # tabletop options, e.g. {max_episode_steps: 100}
    # skills
    n_skills: int = 4  # discrete: number of skills; continuous: dimension of z
    discrete_skills: bool = True
    discovery: str = "lsd"  # the MI term used by slim / naive_sum: lsd, metra or diayn
    discovery_keys: list[str] | None = None  # obs_layout fields the MI term sees; null: object positions
    # reward terms (slim / naive_sum); lsd / diayn use the discovery term alone
    terms: list[str] = field(default_factory=lambda: ["discovery", "reach", "safety"])
    weights: dict[str, float] = field(default_factory=lambda: {"discovery": 1.0, "reach": 1.0, "safety": 1.0})
    normalize: Literal["ema_std", "batch_std", "none"] = "ema_std"
    entropy_heads: Literal["first", "all", "none"] = "first"
    critic_layout: Literal["separate", "shared"] = "separate"  # shared: twin nets with one output per term
    reach_contact_bonus: float = 0.0
    # safety as a constraint (ppo base, per-term critics): its weight becomes a Lagrange multiplier that keeps the
    # violation cost per step at most safety_budget (null: safety is a penalty with weights.safety)
    safety_budget: float | None = None
    safety_lr: float = 0.5  # dual ascent step on the multiplier per unit of cost above the budget, per rollout
    # both bases
    total_steps: int = 200_000
    learning_starts: int = 5_000  # SAC only (and buffer_size, tau, train_freq, gradient_steps, ent_coef)
    batch_size: int | None = None  # SAC batch (null: 256) / PPO minibatch (null: 1024)
    buffer_size: int = 1_000_000
    learning_rate: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    train_freq: int = 1
    gradient_steps: int = 1
    ent_coef: str | float = "auto"
    net_arch: list[int] = field(default_factory=lambda: [256, 256])
    phi_hidden: list[int] = field(default_factory=lambda: [256, 256])
    phi_lr: float = 1e-4
    # PPO (base ppo): rollout length (env steps over all sub-envs), epochs per rollout (minibatch =
    # batch_size), GAE λ, and the sub-envs stepped together (vec_env.SkillVecEnv; null: up to 32 on ppo, 1 on sac).
    # Few epochs over large minibatches keep the update cheap next to the simulator (benchmarks/slim_throughput.py)
    n_steps: int = 4096
    n_epochs: int = 3
    gae_lambda: float = 0.95
    n_envs: int | None = None
    device: str = "auto"  # auto: the GPU when there is one, else the CPU; or cpu, cuda, cuda:1
    torch_threads: int = 0  # torch CPU threads; 0: 1 on machines with <= 4 usable cores, else half of them (max 8)
    # run
    checkpoint_every: int = 10_000  # env steps
    keep_checkpoints: int = 3
    save_replay_buffer: bool = True
    eval_episodes_per_skill: int = 3  # continuous skills: 2 * n_skills random z, this many each
    video: bool = True  # videos/skills.mp4: one episode per skill, tiled (needs MUJOCO_GL=osmesa or egl)
    log_every: int = 1_000  # env steps between training-loss rows
    seed: int = 0
    run_root: str = "runs"
    run_name: str = "discovery"
    resume: str | None = None  # a run folder (latest checkpoint) or a checkpoint .zip
    debug: bool = False  # tiny: 300 steps, small nets, 50-step episodes

    def __post_init__(self) -> None:
        if self.algo == "slim_ppo":  # the name before ``base`` existed; run folders still carry it
            self.algo, self.base = "slim", "ppo"
        _check_names(self)


def _check_names(cfg: DiscoveryConfig) -> None:
    """Unknown algorithm, base or MI term: a :class:`DiscoveryError` that lists the registered names (worded as
    the config loader words a bad choice)."""
    for key, names in (("algo", ALGORITHMS.names()), ("base", BASES.names()), ("discovery", intrinsic_kinds())):
        value = getattr(cfg, key)
        if value not in names:
            close = difflib.get_close_matches(str(value), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DiscoveryError(f"config key {key!r}: expected one of {names}, got {value!r}{hint}")


def n_envs_of(cfg: DiscoveryConfig) -> int:
    """The sub-envs a run steps together: ``cfg.n_envs``; when unset, 1 on sac and on ppo the largest number
    up to 32 that divides the rollout (``n_steps``): 32 for the default 4096."""
    if cfg.n_envs is not None:
        return int(cfg.n_envs)
    if cfg.base != "ppo":
        return 1
    return next(n for n in range(min(32, max(cfg.n_steps, 1)), 0, -1) if cfg.n_steps % n == 0)


def batch_size_of(cfg: DiscoveryConfig) -> int:
    """SAC's batch or PPO's minibatch: ``cfg.batch_size``, or 256 (sac) / 1024 (ppo) when unset."""
    return int(cfg.batch_size) if cfg.batch_size is not None else (1024 if cfg.base == "ppo" else 256)


def torch_threads_of(cfg: DiscoveryConfig) -> int:
    """Torch CPU threads for a run. On a small machine the learner shares its cores with the simulator (which
    runs in the same thread between updates) and with other jobs: one thread avoids idle spinning threads
    competing for them; larger machines get half their cores."""
    if cfg.torch_threads > 0:
        return int(cfg.torch_threads)
    from skill_rl.envs.vector import usable_cpus

    cpus = usable_cpus()
    return 1 if cpus <= 4 else min(8, cpus // 2)


def debug_config(cfg: DiscoveryConfig) -> DiscoveryConfig:
    """``cfg`` shrunk to the tiny ``debug`` mode: 300 steps, small nets, 50-step episodes."""
    return dataclasses.replace(
        cfg, total_steps=min(cfg.total_steps, 300), learning_starts=min(cfg.learning_starts, 100),
        batch_size=min(batch_size_of(cfg), BASES.get(cfg.base).debug_batch), buffer_size=min(cfg.buffer_size, 10_000), net_arch=[32, 32],
        phi_hidden=[32, 32], checkpoint_every=min(cfg.checkpoint_every, 100), eval_episodes_per_skill=2,
        log_every=min(cfg.log_every, 100), n_skills=min(cfg.n_skills, 2), n_steps=min(cfg.n_steps, 100),
        n_epochs=min(cfg.n_epochs, 2), n_envs=min(n_envs_of(cfg), 2),
        env_options={**cfg.env_options, "max_episode_steps": min(cfg.env_options.get("max_episode_steps", 50), 50)},
    )


def check_config(cfg: DiscoveryConfig) -> None:
    """Raise :class:`DiscoveryError` for a config that cannot be run (checked before any run folder exists)."""
    _check_names(cfg)  # the fields may have been set after construction
    if ALGORITHMS.get(cfg.algo).uses_terms:
        if "discovery" not in cfg.terms:
            raise DiscoveryError(f"terms must include 'discovery' for algo {cfg.algo!r}, got {cfg.terms}")
        unknown = [t for t in cfg.terms if t not in TERMS]
        if unknown:
            raise DiscoveryError(f"unknown reward terms {unknown}; valid: {', '.join(TERMS)}")
        if len(set(cfg.terms)) != len(cfg.terms):
            raise DiscoveryError(f"terms lists a term twice: {cfg.terms}")
    bad_weights = sorted(k for k in cfg.weights if k not in TERMS)
    if bad_weights:  # a typo (weights.rech) would otherwise be ignored silently
        raise DiscoveryError(f"unknown reward term(s) in weights: {bad_weights}; valid: {', '.join(TERMS)}")
    n_envs = n_envs_of(cfg)
    if isinstance(cfg.n_envs, bool) or n_envs < 1:
        raise DiscoveryError(f"n_envs must be an integer >= 1, got {cfg.n_envs!r}")
    if cfg.base != "ppo" and n_envs != 1:
        raise DiscoveryError(f"n_envs={n_envs}: only the ppo base steps several envs together; the {cfg.base} base "
                             "steps one (n_envs: 1 or null)")
    if cfg.base == "ppo" and cfg.n_steps % n_envs:
        raise DiscoveryError(f"n_steps ({cfg.n_steps}, the rollout length over all envs) must be a multiple of "
                             f"n_envs ({n_envs})")
    if cfg.safety_budget is not None:
        algo = ALGORITHMS.get(cfg.algo)
        if cfg.base != "ppo" or algo.summed or "safety" not in algo.terms(cfg):
            raise DiscoveryError(f"safety_budget (safety as a constraint) needs the ppo base and a safety critic of "
                                 f"its own (algo slim with 'safety' in terms); got algo {cfg.algo!r}, base {cfg.base!r}")
        if not cfg.safety_budget >= 0 or not cfg.safety_lr > 0:
            raise DiscoveryError(f"safety_budget must be >= 0 and safety_lr > 0, got {cfg.safety_budget}, {cfg.safety_lr}")
    if cfg.torch_threads < 0:
        raise DiscoveryError(f"torch_threads must be >= 0 (0: automatic), got {cfg.torch_threads}")
    for k, v in cfg.weights.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
            raise DiscoveryError(f"weights.{k} must be a finite number, got {v!r}")
    for name, v in (("total_steps", cfg.total_steps), ("n_skills", cfg.n_skills), ("batch_size", batch_size_of(cfg)),
                    ("checkpoint_every", cfg.checkpoint_every), ("keep_checkpoints", cfg.keep_checkpoints)):
        if v < 1:
            raise DiscoveryError(f"{name} must be >= 1, got {v}")
