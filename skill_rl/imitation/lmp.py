"""Play-LMP on the core (Lynch et al., "Learning Latent Plans from Play", 2019): :class:`PlanLearner` trains a
:class:`~skill_rl.imitation.policy.BCPolicy` with a latent plan (``latent_dim`` > 0) on play windows.

loss = β-NLL of the window's sampled steps under π(a | o, g, z), z ~ Φ(z | window) (reparameterised, one per
window) + ``kl_beta`` · KL(Φ(z | window) || Ψ(z | s_0, g)). Only the policy (with its proposal Ψ) is deployed;
the recognition network Φ exists for training.

A :class:`PlanRowsBatch` adds goal-conditioned rows (rung c's) on which the policy acts on the plan it is given
when deployed, Ψ's mean (detached, so Ψ stays trained by the KL alone): the paper's policy only ever sees the
recognition's samples in training and the proposal's plans in use. Measured on 14 h of play it lifts rung d from
24.1 to 26.8 %, far from Play-GCBC's 61.2 % (docs/play.md, session 16). The NLL is the mean over all policy rows.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.distributions import kl_divergence

from .data import BCBatch, PlanBatch
from .heads import beta_nll
from .latent import PlanRecognition
from .policy import BCPolicy

__all__ = ["PlanLearner", "PlanLoss", "PlanRowsBatch"]


class PlanLoss(NamedTuple):
    """total: what is minimised; nll: the plain action NLL (nats); kl: KL(Φ || Ψ) (nats, batch mean)."""

    total: torch.Tensor
    nll: torch.Tensor
    kl: torch.Tensor


class PlanRowsBatch(NamedTuple):
    """Play-LMP's windows plus goal-conditioned rows that the policy is trained on under Ψ's plan."""

    plan: PlanBatch
    rows: BCBatch


class PlanLearner(nn.Module):
    """A latent-plan :class:`BCPolicy` plus the plan recognition network that trains it."""

    def __init__(self, policy: BCPolicy, kl_beta: float = 0.01, rnn_hidden: int = 128, stride: int = 1) -> None:
        super().__init__()
        cfg = policy.cfg
        if cfg.latent_dim <= 0:
            raise ValueError("PlanLearner needs a policy with latent_dim > 0")
        if kl_beta < 0 or stride < 1:
            raise ValueError(f"kl_beta must be >= 0 and stride >= 1, got {kl_beta}, {stride}")
        self.policy = policy
        self.recognition = PlanRecognition(cfg.obs_dim, cfg.act_dim, cfg.latent_dim, rnn_hidden)
        self.kl_beta = float(kl_beta)
        self.stride = int(stride)  # the recognition reads every stride-th step: the GRU is most of a step's cost

    def loss(self, batch: PlanBatch | PlanRowsBatch) -> PlanLoss:
        rows = None
        if isinstance(batch, PlanRowsBatch):
            batch, rows = batch.plan, batch.rows
        pol = self.policy
        every = slice(None, None, self.stride)  # real steps come first, so the mask stays a prefix
        q = self.recognition(pol.norm(batch.window_obs[:, every]),
                             batch.window_actions[:, every].clamp(-1.0, 1.0), batch.mask[:, every])
        kl = kl_divergence(q, pol.propose(batch.window_obs[:, 0], batch.goal)).mean()
        k = batch.obs.shape[1]  # policy rows per window
        z = q.rsample().repeat_interleave(k, dim=0)
        goal = batch.goal.repeat_interleave(k, dim=0)
        params = pol.params(batch.obs.flatten(0, 1), goal, z)
        nll, train = beta_nll(pol.net.head, params, batch.actions.flatten(0, 1), beta=pol.cfg.nll_beta)
        if rows is not None:
            if rows.goal is None:
                raise ValueError("the prior-plan rows need goals")
            plan = pol.propose(rows.obs[:, -1], rows.goal).mean.detach()
            nll_r, train_r = beta_nll(pol.net.head, pol.params(rows.obs, rows.goal, plan), rows.actions,
                                      beta=pol.cfg.nll_beta)
            n_w, n_r = batch.actions.shape[0] * k, rows.actions.shape[0]
            nll = (nll * n_w + nll_r * n_r) / (n_w + n_r)
            train = (train * n_w + train_r * n_r) / (n_w + n_r)
        return PlanLoss(train + self.kl_beta * kl, nll, kl)
