"""The two small MLPs of a skill's models (saved as TorchScript in the library entry)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ClassifierNet", "DynamicsNet"]


class DynamicsNet(nn.Module):
    """x[B, F] -> predicted outputs[B, K] after the skill = a base column of x + MLP change (normalised inside).

    ``base_idx[j]`` is the feature column output ``j`` is predicted relative to: its own start value (so zero
    change is "nothing moves") or the same coordinate of another position, e.g. the place target for the
    object being placed (its end position is then nearly a constant offset, which generalises to new places).
    """

    def __init__(self, n_in: int, base_idx: Sequence[int], hidden: int = 64) -> None:
        super().__init__()
        k = len(base_idx)
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, k))
        self.register_buffer("base_idx", torch.as_tensor(list(base_idx), dtype=torch.long))
        self.register_buffer("x_mean", torch.zeros(n_in))
        self.register_buffer("x_std", torch.ones(n_in))
        self.register_buffer("d_mean", torch.zeros(k))
        self.register_buffer("d_std", torch.ones(k))

    def change(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised predicted change (what is trained)."""
        return self.net((x - self.x_mean) / self.x_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(1, self.base_idx) + self.change(x) * self.d_std + self.d_mean


class ClassifierNet(nn.Module):
    """x[B, F] -> P(success)[B]."""

    def __init__(self, n_in: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 1))
        self.register_buffer("x_mean", torch.zeros(n_in))
        self.register_buffer("x_std", torch.ones(n_in))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.x_mean) / self.x_std).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))
