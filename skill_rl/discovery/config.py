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

__all__ = ["TERMS", "DiscoveryConfig", "DiscoveryError", "check_config", "debug_config"]

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
    # both bases
    total_steps: int = 200_000
    learning_starts: int = 5_000  # SAC only (and buffer_size, tau, train_freq, gradient_steps, ent_coef)
    batch_size: int = 256
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
    # PPO (base ppo): rollout length, epochs per rollout (minibatch = batch_size), GAE λ
    n_steps: int = 2048
    n_epochs: int = 10
    gae_lambda: float = 0.95
    device: str = "cpu"
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


def debug_config(cfg: DiscoveryConfig) -> DiscoveryConfig:
    """``cfg`` shrunk to the tiny ``debug`` mode: 300 steps, small nets, 50-step episodes."""
    return dataclasses.replace(
        cfg, total_steps=min(cfg.total_steps, 300), learning_starts=min(cfg.learning_starts, 100),
        batch_size=min(cfg.batch_size, BASES.get(cfg.base).debug_batch), buffer_size=min(cfg.buffer_size, 10_000), net_arch=[32, 32],
        phi_hidden=[32, 32], checkpoint_every=min(cfg.checkpoint_every, 100), eval_episodes_per_skill=2,
        log_every=min(cfg.log_every, 100), n_skills=min(cfg.n_skills, 2), n_steps=min(cfg.n_steps, 100),
        n_epochs=min(cfg.n_epochs, 2),
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
    for k, v in cfg.weights.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
            raise DiscoveryError(f"weights.{k} must be a finite number, got {v!r}")
    for name, v in (("total_steps", cfg.total_steps), ("n_skills", cfg.n_skills), ("batch_size", cfg.batch_size),
                    ("checkpoint_every", cfg.checkpoint_every), ("keep_checkpoints", cfg.keep_checkpoints)):
        if v < 1:
            raise DiscoveryError(f"{name} must be >= 1, got {v}")
