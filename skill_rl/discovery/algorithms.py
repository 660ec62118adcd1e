"""The discovery algorithms and the actor-critic bases they run on, registered by name in one place.

Why registries: the config check, the model factory, checkpoint loading and the benchmarks all pick an
algorithm or a base by name. They read :data:`ALGORITHMS` and :data:`BASES` instead of keeping their own
lists, and an unknown name fails with the registered names listed. Every algorithm runs on every base.

* ``slim``: one critic per reward term of ``terms``; the actor maximises their weighted, normalised sum.
* ``naive_sum``: the same terms summed with ``weights`` into ONE critic.
* ``lsd`` / ``metra`` / ``diayn``: their mutual-information term alone, one critic.

Bases: ``ppo`` (:class:`~skill_rl.discovery.ppo.MultiHeadPPO`, one value head per critic) and ``sac``
(:class:`~skill_rl.discovery.slim.SLIM`, one twin-Q critic per head). Importing this module imports no torch;
a base imports its model class when it builds or loads one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from skill_rl.registry import Registry

if TYPE_CHECKING:
    from .config import DiscoveryConfig

__all__ = ["ALGORITHMS", "BASES", "Algorithm", "Base", "intrinsic_kinds"]

# Heads: ``(head_matrix, head_weights)`` as MultiHeadPPO and SLIM take them (terms -> critic rewards, actor weights).
Heads = tuple[list[list[float]], list[float]]


@dataclass(frozen=True)
class Algorithm:
    """How an algorithm turns reward terms into critics.

    ``intrinsic``: the mutual-information term it trains on alone (``lsd``, ``metra``, ``diayn``); None for the
    multi-term algorithms, which train on ``cfg.terms`` with ``cfg.discovery`` as their MI term.
    ``summed``: every term summed with its weight into ONE critic, instead of one critic per term.
    ``config``: the file under ``configs/`` that runs it (base ppo), e.g. for the benchmarks.
    """

    name: str
    description: str
    config: str
    intrinsic: str | None = None
    summed: bool = False

    @property
    def uses_terms(self) -> bool:
        """Whether ``cfg.terms`` and ``cfg.weights`` choose its reward terms (else: the MI term alone)."""
        return self.intrinsic is None

    def terms(self, cfg: DiscoveryConfig) -> list[str]:
        """The reward terms it trains on, ``discovery`` first (SLIM's "first" entropy head is the discovery critic)."""
        terms = list(cfg.terms) if self.uses_terms else ["discovery"]
        return ["discovery"] + [t for t in terms if t != "discovery"]

    def discovery_kind(self, cfg: DiscoveryConfig) -> str:
        """Which MI reward (``lsd``, ``metra``, ``diayn``) the ``discovery`` term is."""
        return self.intrinsic or cfg.discovery

    def heads(self, terms: list[str], weights: Mapping[str, float]) -> Heads:
        """One critic per term (weights on the actor) or, ``summed``, one critic on the weighted sum."""
        w = [float(weights.get(t, 1.0)) for t in terms]
        if self.summed:
            return [w], [1.0]
        return np.eye(len(terms)).tolist(), w

    def n_heads(self, terms: list[str]) -> int:
        return 1 if self.summed else len(terms)


@dataclass(frozen=True)
class Base:
    """An actor-critic that carries the algorithms' critics.

    ``build(cfg, env, **heads)`` makes the model (``env``: a Monitor-wrapped discovery env; ``heads``:
    ``term_names``, ``head_matrix``, ``head_weights``, ``intrinsic``); ``model_class()`` imports its class
    (to load a checkpoint). ``policy_module``: how the module of the SB3 policy class that a checkpoint names
    ends, which tells the base of a checkpoint. ``debug_batch``: the batch size of ``debug`` runs.
    """

    name: str
    description: str
    policy_module: str
    debug_batch: int
    model_class: Callable[[], type]
    build: Callable[..., Any]


ALGORITHMS: Registry[Algorithm] = Registry("discovery algorithm")
BASES: Registry[Base] = Registry("discovery base")

for _algo in (
    Algorithm("slim", "SLIM: one critic per reward term, weighted normalised actor loss", "slim_push"),
    Algorithm("naive_sum", "the same reward terms summed into one critic", "discovery_naive_sum", summed=True),
    Algorithm("lsd", "Lipschitz-constrained skill discovery, alone", "discovery_lsd", intrinsic="lsd"),
    Algorithm("metra", "METRA (temporal-distance skill discovery), alone", "discovery_metra", intrinsic="metra"),
    Algorithm("diayn", "DIAYN (skill discriminator), alone", "discovery_diayn", intrinsic="diayn"),
):
    ALGORITHMS.add(_algo.name, _algo)


def intrinsic_kinds() -> list[str]:
    """The MI terms a multi-term algorithm may use as ``discovery`` (``cfg.discovery``): the single-term ones."""
    return sorted({a.intrinsic for _, a in ALGORITHMS.items() if a.intrinsic})


def _ppo_class() -> type:
    from .ppo import MultiHeadPPO

    return MultiHeadPPO


def _sac_class() -> type:
    from .slim import SLIM

    return SLIM


def _build_ppo(cfg: DiscoveryConfig, env: Any, **heads: Any) -> Any:
    from .config import batch_size_of

    n_steps = cfg.n_steps // max(1, getattr(env, "num_envs", 1))  # cfg.n_steps: the rollout over all envs
    return _ppo_class()("MlpPolicy", env, **heads,
                        learning_rate=cfg.learning_rate, n_steps=n_steps, batch_size=batch_size_of(cfg),
                        n_epochs=cfg.n_epochs, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda,
                        policy_kwargs={"net_arch": list(cfg.net_arch)}, seed=cfg.seed, device=cfg.device, verbose=0)


def _build_sac(cfg: DiscoveryConfig, env: Any, **heads: Any) -> Any:
    from .config import batch_size_of

    return _sac_class()("MlpPolicy", env, **heads,
                        normalize=cfg.normalize, entropy_heads=cfg.entropy_heads, critic_layout=cfg.critic_layout,
                        learning_rate=cfg.learning_rate, buffer_size=cfg.buffer_size,
                        learning_starts=cfg.learning_starts, batch_size=batch_size_of(cfg), tau=cfg.tau, gamma=cfg.gamma,
                        train_freq=cfg.train_freq, gradient_steps=cfg.gradient_steps, ent_coef=cfg.ent_coef,
                        policy_kwargs={"net_arch": list(cfg.net_arch)}, seed=cfg.seed, device=cfg.device, verbose=0)


BASES.add("ppo", Base("ppo", "MultiHeadPPO: one value head per critic, per-head GAE", ".ppo", 50, _ppo_class,
                      _build_ppo))
BASES.add("sac", Base("sac", "SLIM(SAC): one twin-Q critic per head", ".slim", 32, _sac_class, _build_sac))
