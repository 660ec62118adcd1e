"""Building blocks: the MLP, the observation normaliser and the policy network (MLP trunk + action head)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .heads import ActionHead, Params, make_head

__all__ = ["FiLMTrunk", "Normaliser", "PolicyNet", "mlp", "rename_legacy_keys"]


def mlp(in_dim: int, hidden: int, layers: int, out_dim: int) -> nn.Sequential:
    """``layers`` hidden Linear+ReLU layers of width ``hidden``, then a Linear to ``out_dim``."""
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    mods.append(nn.Linear(d, out_dim))
    return nn.Sequential(*mods)


class Normaliser(nn.Module):
    """Raw (..., D) -> ``(x - mean) / std``, with ignored features zeroed and an optional clip.

    The statistics are buffers, so a saved policy takes the env's raw observation. ``ignore_index``: features
    the network never sees (zero after normalising), e.g. the arm's joint velocities: with them a policy
    learns to continue its current motion (the copycat shortcut) and stalls where it starts at rest.
    """

    def __init__(self, dim: int, ignore_index: Sequence[int] | None = None, clip: float | None = None) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        keep = torch.ones(dim)
        keep[list(ignore_index or [])] = 0.0
        self.register_buffer("keep", keep, persistent=False)  # from the config, not the file
        self.clip = clip

    def set_stats(self, mean: Any, std: Any, floor: float | None = None) -> None:
        """Set mean and std ((D,) each). ``floor``: raise every std to at least this (None: stds below 1e-6,
        constant features, become 1)."""
        mean_t = torch.as_tensor(np.asarray(mean, np.float32))
        std_t = torch.as_tensor(np.asarray(std, np.float32))
        if floor is None:
            std_t = torch.where(std_t < 1e-6, torch.ones_like(std_t), std_t)
        else:
            std_t = std_t.clamp(min=float(floor))
        self.mean.copy_(mean_t)
        self.std.copy_(std_t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x - self.mean) / self.std
        if self.clip is not None:
            y = y.clamp(-self.clip, self.clip)
        return y * self.keep


class FiLMTrunk(nn.Module):
    """``layers`` Linear+ReLU layers whose pre-activations a conditioning vector scales and shifts (FiLM, Perez
    et al. 2018): ``h = relu(W h * (1 + γ_i(c)) + β_i(c))``.

    Why: concatenated, a goal is a few of many inputs and a multi-task policy can average over the tasks whose
    goals differ least; through FiLM the goal gates every hidden unit. The conditioning MLP's last layer starts
    at zero, so an untrained FiLM trunk is the plain MLP."""

    def __init__(self, in_dim: int, cond_dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.linears = nn.ModuleList(nn.Linear(in_dim if i == 0 else hidden, hidden) for i in range(layers))
        self.film = mlp(cond_dim, hidden, 1, 2 * hidden * layers)
        nn.init.zeros_(self.film[-1].weight)
        nn.init.zeros_(self.film[-1].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scales_shifts = self.film(cond).chunk(2 * len(self.linears), dim=-1)
        h = x
        for i, linear in enumerate(self.linears):
            h = torch.relu(linear(h) * (1.0 + scales_shifts[2 * i]) + scales_shifts[2 * i + 1])
        return h


class PolicyNet(nn.Module):
    """π(a | x): an MLP trunk (``layers`` hidden layers of ``hidden``, ReLU) on the concatenation of its
    (already normalised) inputs, then an action head; ``forward(*parts)`` returns the head's params.

    ``cond_dim`` > 0: the trunk is a :class:`FiLMTrunk` and ``forward(*parts, cond=c)`` needs the (B, cond_dim)
    conditioning vector (e.g. the goal's features)."""

    def __init__(self, in_dim: int, act_dim: int, hidden: int = 256, layers: int = 2, head: str = "gaussian",
                 n_mix: int = 5, n_bins: int = 256, min_std: float = 1e-4, cond_dim: int = 0) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        self.cond_dim = int(cond_dim)
        self.trunk: nn.Module = (FiLMTrunk(in_dim, self.cond_dim, hidden, layers) if self.cond_dim > 0
                                 else nn.Sequential(mlp(in_dim, hidden, layers - 1, hidden), nn.ReLU()))
        self.head: ActionHead = make_head(head, hidden, act_dim, n_mix=n_mix, n_bins=n_bins, min_std=min_std)

    def forward(self, *parts: torch.Tensor, cond: torch.Tensor | None = None) -> Params:
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
        if self.cond_dim > 0:
            if cond is None or cond.shape[-1] != self.cond_dim:
                got = None if cond is None else tuple(cond.shape)
                raise ValueError(f"this network is FiLM-conditioned: pass cond of shape (B, {self.cond_dim}), "
                                 f"got {got}")
            return self.head(self.trunk(x, cond))
        return self.head(self.trunk(x))

    def log_prob(self, params: Params, actions: torch.Tensor) -> torch.Tensor:
        return self.head.log_prob(params, actions)

    def log_prob_terms(self, params: Params, actions: torch.Tensor) -> torch.Tensor:
        return self.head.log_prob_terms(params, actions)

    def variance(self, params: Params) -> torch.Tensor:
        return self.head.variance(params)

    def sample(self, params: Params) -> torch.Tensor:
        return self.head.sample(params)

    def mode(self, params: Params) -> torch.Tensor:
        return self.head.mode(params)


def rename_legacy_keys(module: nn.Module, renames: Mapping[str, str]) -> None:
    """Let ``module`` load state dicts saved before its parameters moved: key ``old`` (relative to the
    module) is read as ``new``. Keeps policy files written by earlier versions loadable."""

    def hook(state_dict: dict, prefix: str, *args: Any) -> None:
        for old, new in renames.items():
            if prefix + old in state_dict and prefix + new not in state_dict:
                state_dict[prefix + new] = state_dict.pop(prefix + old)

    module._register_load_state_dict_pre_hook(hook)
