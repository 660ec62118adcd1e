"""Build what a discovery run trains: the wrapped env (:func:`make_env`) and the model (:func:`build_model`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .config import DiscoveryConfig, DiscoveryError

__all__ = ["build_model", "make_env", "terms_for"]


def terms_for(cfg: DiscoveryConfig) -> list[str]:
    """The reward terms ``cfg`` trains on, ``discovery`` first."""
    # discovery first: SLIM's "first" entropy head is the discovery critic
    terms = ["discovery"] if cfg.algo in ("lsd", "metra", "diayn") else list(cfg.terms)
    return ["discovery"] + [t for t in terms if t != "discovery"]


def make_env(cfg: DiscoveryConfig):
    """The tabletop env of ``cfg`` wrapped with its skills and reward terms; a bad env id or option is a
    :class:`DiscoveryError`."""
    from .env import make_discovery_env

    terms = terms_for(cfg)
    try:
        return make_discovery_env(cfg.env_id, cfg.n_skills, cfg.discrete_skills, terms, cfg.weights,
                                  cfg.env_options, reach_contact_bonus=cfg.reach_contact_bonus)
    except (KeyError, TypeError, ValueError) as exc:
        msg = exc.args[0] if exc.args else exc
        raise DiscoveryError(f"cannot make {cfg.env_id} with env_options={cfg.env_options}: {msg}") from None


def build_model(cfg: DiscoveryConfig, env: Any):
    """The SLIM model for ``cfg`` on a wrapped env (:func:`make_env`)."""
    from stable_baselines3.common.monitor import Monitor

    from .rewards import default_object_keys, layout_indices
    from .slim import SLIM

    terms = terms_for(cfg)
    layout = env.obs_layout
    keys = cfg.discovery_keys or default_object_keys(layout)
    if not keys:
        raise DiscoveryError(f"{cfg.env_id} has no movable object; set discovery_keys (fields: {list(layout)})")
    try:
        idx = layout_indices(layout, keys)
    except KeyError as exc:
        raise DiscoveryError(f"discovery_keys: {exc.args[0]}") from None
    kind = cfg.algo if cfg.algo in ("lsd", "metra", "diayn") else cfg.discovery
    sk = layout["skill"]
    intrinsic = {"discovery": {"kind": kind, "state_indices": idx, "skill_slice": (sk.start, sk.stop),
                               "n_skills": cfg.n_skills, "discrete": cfg.discrete_skills,
                               "hidden": list(cfg.phi_hidden), "lr": cfg.phi_lr}}
    w = [float(cfg.weights.get(t, 1.0)) for t in terms]
    if cfg.algo == "naive_sum":
        head_matrix, head_weights = [w], [1.0]
    else:
        head_matrix, head_weights = np.eye(len(terms)).tolist(), w
    if cfg.base == "ppo":
        from .ppo import MultiHeadPPO

        return MultiHeadPPO("MlpPolicy", Monitor(env), term_names=terms, head_matrix=head_matrix,
                            head_weights=head_weights, intrinsic=intrinsic,
                            learning_rate=cfg.learning_rate, n_steps=cfg.n_steps, batch_size=cfg.batch_size,
                            n_epochs=cfg.n_epochs, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda,
                            policy_kwargs={"net_arch": list(cfg.net_arch)}, seed=cfg.seed, device=cfg.device, verbose=0)
    return SLIM("MlpPolicy", Monitor(env), term_names=terms, head_matrix=head_matrix, head_weights=head_weights,
                normalize=cfg.normalize, entropy_heads=cfg.entropy_heads, intrinsic=intrinsic,
                critic_layout=cfg.critic_layout,
                learning_rate=cfg.learning_rate, buffer_size=cfg.buffer_size, learning_starts=cfg.learning_starts,
                batch_size=cfg.batch_size, tau=cfg.tau, gamma=cfg.gamma, train_freq=cfg.train_freq,
                gradient_steps=cfg.gradient_steps, ent_coef=cfg.ent_coef,
                policy_kwargs={"net_arch": list(cfg.net_arch)}, seed=cfg.seed, device=cfg.device, verbose=0)
