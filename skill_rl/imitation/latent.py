"""What Play-LMP adds to a goal-conditioned policy (Lynch et al., "Learning Latent Plans from Play", 2019):

* :class:`PlanRecognition` Φ(z | τ): a bidirectional GRU over a window τ = (s_t, a_t) -> a diagonal Gaussian
  over the latent plan z (training only);
* :class:`PlanProposal` Ψ(z | s_0, s_g): an MLP on (first state, goal) -> a diagonal Gaussian over z.

Both take normalised inputs (the policy's :class:`~skill_rl.imitation.nets.Normaliser`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Independent, Normal

from .nets import mlp

__all__ = ["PlanProposal", "PlanRecognition", "diag_gaussian"]

STD_MIN = 1e-4


def diag_gaussian(params: torch.Tensor) -> Independent:
    """(..., 2Z) -> Independent(Normal(mean, std), 1) with std = softplus(raw) + 1e-4."""
    mean, raw = params.chunk(2, dim=-1)
    return Independent(Normal(mean, F.softplus(raw) + STD_MIN), 1)


class PlanRecognition(nn.Module):
    """Φ: bidirectional GRU over (obs, action) windows -> diagonal Gaussian over z.

    ``forward(obs (B, T, D) normalised, actions (B, T, A), mask (B, T) bool)``: padded steps are excluded
    (packed sequences); the last hidden states of both directions -> Linear -> (mean, std) of z (B, Z).
    """

    def __init__(self, obs_dim: int, act_dim: int, latent_dim: int, hidden: int = 128, layers: int = 1) -> None:
        super().__init__()
        self.rnn = nn.GRU(obs_dim + act_dim, hidden, num_layers=layers, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, 2 * latent_dim)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor) -> Independent:
        x = torch.cat([obs, actions], dim=-1)
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, h = self.rnn(packed)  # (layers * 2, B, H)
        return diag_gaussian(self.out(torch.cat([h[-2], h[-1]], dim=-1)))


class PlanProposal(nn.Module):
    """Ψ: MLP on (s_0, s_g) (normalised, (B, D) and (B, G); G = ``goal_dim``, default D) -> diagonal Gaussian
    over z (B, Z)."""

    def __init__(self, obs_dim: int, latent_dim: int, hidden: int = 256, layers: int = 2,
                 goal_dim: int | None = None) -> None:
        super().__init__()
        self.net = mlp(obs_dim + (obs_dim if goal_dim is None else goal_dim), hidden, layers, 2 * latent_dim)

    def forward(self, obs: torch.Tensor, goal: torch.Tensor) -> Independent:
        return diag_gaussian(self.net(torch.cat([obs, goal], dim=-1)))
