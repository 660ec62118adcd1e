"""Build what a discovery run trains: the wrapped env (:func:`make_env`) and the model (:func:`build_model`).

The algorithm and base come from the registries in :mod:`skill_rl.discovery.algorithms`.
"""

from __future__ import annotations

from typing import Any

from .algorithms import ALGORITHMS, BASES
from .config import DiscoveryConfig, DiscoveryError

__all__ = ["build_model", "make_env", "make_train_env", "terms_for"]


def terms_for(cfg: DiscoveryConfig) -> list[str]:
    """The reward terms ``cfg`` trains on, ``discovery`` first."""
    return ALGORITHMS.get(cfg.algo).terms(cfg)


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


def make_train_env(cfg: DiscoveryConfig):
    """What a run trains on: ``n_envs`` wrapped envs stepped together (:class:`~.vec_env.SkillVecEnv`, batched
    reward terms); with one env on the sac base, the wrapped env in a ``Monitor`` as SB3 expects."""
    from .config import n_envs_of

    n = n_envs_of(cfg)
    if cfg.base != "ppo" and n == 1:
        from stable_baselines3.common.monitor import Monitor

        return Monitor(make_env(cfg))
    from .vec_env import SkillVecEnv

    first = make_env(cfg)  # fails here, once, with the clear error for a bad env id or option
    return SkillVecEnv([lambda: first] + [lambda: make_env(cfg)] * (n - 1))


def build_model(cfg: DiscoveryConfig, env: Any):
    """The model of ``cfg.algo`` on ``cfg.base`` (both from :mod:`.algorithms`) on a wrapped env (:func:`make_env`,
    put in a ``Monitor``) or on the training env of :func:`make_train_env`."""
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import VecEnv

    from .rewards import default_object_keys, layout_indices

    algo, base = ALGORITHMS.get(cfg.algo), BASES.get(cfg.base)
    terms = algo.terms(cfg)
    layout = env.get_attr("obs_layout", [0])[0] if isinstance(env, VecEnv) else env.get_wrapper_attr("obs_layout")
    keys = cfg.discovery_keys or default_object_keys(layout)
    if not keys:
        raise DiscoveryError(f"{cfg.env_id} has no movable object; set discovery_keys (fields: {list(layout)})")
    try:
        idx = layout_indices(layout, keys)
    except KeyError as exc:
        raise DiscoveryError(f"discovery_keys: {exc.args[0]}") from None
    sk = layout["skill"]
    intrinsic = {"discovery": {"kind": algo.discovery_kind(cfg), "state_indices": idx,
                               "skill_slice": (sk.start, sk.stop), "n_skills": cfg.n_skills,
                               "discrete": cfg.discrete_skills, "hidden": list(cfg.phi_hidden), "lr": cfg.phi_lr}}
    head_matrix, head_weights = algo.heads(terms, cfg.weights)
    if cfg.safety_budget is not None:  # checked by check_config: ppo base, a safety head of its own
        heads_extra = {"constraints": {terms.index("safety"): (cfg.safety_budget, cfg.safety_lr)}}
    else:
        heads_extra = {}
    train_env = env if isinstance(env, (VecEnv, Monitor)) else Monitor(env)
    return base.build(cfg, train_env, term_names=terms, head_matrix=head_matrix, head_weights=head_weights,
                      intrinsic=intrinsic, **heads_extra)
