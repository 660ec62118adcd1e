"""A K-head twin-Q critic ensemble as ONE batched module.

SLIM gives every reward term its own critic. Here all ``n_heads * n_q`` Q-networks (``n_q = 2`` for SAC's
clipped double-Q) are one stack of :class:`EnsembleLinear` layers whose weights have a leading member
dimension ``E = n_heads * n_q``; a forward pass is one ``torch.baddbmm`` per layer, so K critics cost little
more than one on a CPU (no Python loop over networks). Member ``e = k * n_q + i`` is twin ``i`` of head
``k``. Members share no parameters: the gradient of head k's loss reaches only the slices ``[k*n_q:(k+1)*n_q]``
of each weight (``tests/test_discovery_critics.py`` checks it).

The target network is a second :class:`MultiCriticEnsemble` (the policy's ``critic_target``), updated by a
Polyak average of the whole ensemble; since members are independent, that is exactly one target per head.

``layout="shared"`` is the other option: ``n_q`` networks (SAC's twins) each with ``n_heads`` outputs, i.e.
the critics of all reward terms share hidden layers and differ in their last layer. That is the patent's
"network with a plurality of outputs" (US 12,393,175) and costs the same as one SAC critic, but the heads'
losses then meet in the shared layers (no isolation). Why offer it: on a CPU the separate ensemble is
FLOP-bound (K critics = K times the multiply-adds), see ``docs/slim.md`` and ``benchmarks/slim_throughput.py``.
"""

from __future__ import annotations

import math

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

__all__ = ["CRITIC_LAYOUTS", "EnsembleLinear", "EnsembleMLP", "MultiCriticEnsemble"]

CRITIC_LAYOUTS = ("separate", "shared")


class EnsembleLinear(nn.Module):
    """``E`` independent linear layers: ``(E, B, in) -> (E, B, out)``, ``y_e = x_e @ W_e + b_e``.

    Each member is initialised exactly like ``nn.Linear(in, out)`` (Kaiming-uniform with ``a=sqrt(5)``, bias
    uniform in ``±1/sqrt(in)``). ``weight`` is stored as ``(E, in, out)`` (transposed w.r.t. ``nn.Linear``).
    """

    def __init__(self, n_members: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.n_members, self.in_features, self.out_features = n_members, in_features, out_features
        self.weight = nn.Parameter(th.empty(n_members, in_features, out_features))
        self.bias = nn.Parameter(th.empty(n_members, 1, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        with th.no_grad():
            for e in range(self.n_members):
                w = th.empty(self.out_features, self.in_features)
                nn.init.kaiming_uniform_(w, a=math.sqrt(5))
                self.weight[e].copy_(w.t())
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: th.Tensor) -> th.Tensor:
        return th.baddbmm(self.bias, x, self.weight)

    def load_member(self, e: int, linear: nn.Linear) -> None:
        """Copy an ``nn.Linear``'s weights into member ``e``."""
        with th.no_grad():
            self.weight[e].copy_(linear.weight.t())
            self.bias[e, 0].copy_(linear.bias)

    def extra_repr(self) -> str:
        return f"n_members={self.n_members}, in_features={self.in_features}, out_features={self.out_features}"


class EnsembleMLP(nn.Module):
    """``E`` MLPs ``in -> net_arch... -> out`` with ``activation_fn`` between layers (none after the last)."""

    def __init__(self, n_members: int, in_dim: int, out_dim: int, net_arch: list[int],
                 activation_fn: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        dims = [in_dim, *net_arch, out_dim]
        layers: list[nn.Module] = []
        for i in range(len(dims) - 1):
            layers.append(EnsembleLinear(n_members, dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                layers.append(activation_fn())
        self.net = nn.Sequential(*layers)
        self.n_members = n_members

    def forward(self, x: th.Tensor) -> th.Tensor:
        """``x``: ``(B, in)`` (the same input for every member) or ``(E, B, in)``; returns ``(E, B, out)``."""
        layers = list(self.net)
        if x.dim() == 2:
            # shared input: the first layer of all members is one (B, in) x (in, E*out) GEMM
            first: EnsembleLinear = layers[0]  # type: ignore[assignment]
            w = first.weight.permute(1, 0, 2).reshape(first.in_features, -1)
            h = th.addmm(first.bias.permute(1, 0, 2).reshape(1, -1), x, w)
            x = h.view(x.shape[0], self.n_members, first.out_features).transpose(0, 1)
            layers = layers[1:]
        for layer in layers:
            x = layer(x)
        return x

    def linears(self) -> list[EnsembleLinear]:
        return [m for m in self.net if isinstance(m, EnsembleLinear)]

    def load_member(self, e: int, mlp: nn.Sequential) -> None:
        """Copy the weights of a plain MLP (an ``nn.Sequential`` of ``nn.Linear`` + activations) into member e."""
        plain = [m for m in mlp if isinstance(m, nn.Linear)]
        mine = self.linears()
        if len(plain) != len(mine):
            raise ValueError(f"MLP has {len(plain)} linear layers, the ensemble {len(mine)}")
        for lin, ens in zip(plain, mine, strict=True):
            ens.load_member(e, lin)


class MultiCriticEnsemble(BaseModel):
    """``n_heads`` critics (one per reward term), each ``n_q`` Q-networks, evaluated in one batched pass.

    Drop-in for SB3's ``ContinuousCritic`` inside :class:`~skill_rl.discovery.slim.MultiCriticSACPolicy`
    (same constructor arguments plus ``n_heads``), but :meth:`forward` returns one tensor
    ``(n_heads, n_q, B)`` of Q-values instead of a tuple of ``(B, 1)`` tensors.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        n_critics: int = 2,
        share_features_extractor: bool = True,
        n_heads: int = 1,
        layout: str = "separate",
    ) -> None:
        super().__init__(observation_space, action_space, features_extractor=features_extractor,
                         normalize_images=normalize_images)
        if n_heads < 1 or n_critics < 1:
            raise ValueError(f"n_heads and n_critics must be >= 1, got {n_heads}, {n_critics}")
        self.share_features_extractor = share_features_extractor
        self.n_heads = n_heads
        self.n_critics = n_critics
        if layout not in CRITIC_LAYOUTS:
            raise ValueError(f"critic layout must be one of {CRITIC_LAYOUTS}, got {layout!r}")
        self.layout = layout
        in_dim = features_dim + get_action_dim(action_space)
        if layout == "separate":
            self.q_net = EnsembleMLP(n_heads * n_critics, in_dim, 1, list(net_arch), activation_fn)
        else:
            self.q_net = EnsembleMLP(n_critics, in_dim, n_heads, list(net_arch), activation_fn)

    def forward(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        """Q-values ``(n_heads, n_q, B)`` for observations ``(B, obs_dim)`` and actions ``(B, act_dim)``."""
        with th.set_grad_enabled(not self.share_features_extractor):
            features = self.extract_features(obs, self.features_extractor)
        q = self.q_net(th.cat([features, actions], dim=1))
        if self.layout == "separate":  # (H * n_q, B, 1)
            return q.squeeze(-1).view(self.n_heads, self.n_critics, -1)
        return q.permute(2, 0, 1)  # (n_q, B, H) -> (H, n_q, B)

    def member_parameters(self, head: int) -> list[th.Tensor]:
        """Views of head ``head``'s slices of every ensemble weight (for inspection and tests); ``separate``
        layout only (with ``shared`` the hidden layers belong to every head)."""
        if self.layout != "separate":
            raise ValueError("member_parameters needs the 'separate' critic layout")
        lo, hi = head * self.n_critics, (head + 1) * self.n_critics
        return [p[lo:hi] for p in self.q_net.parameters()]

    def load_from_continuous_critic(self, critic: nn.Module, head: int = 0) -> None:
        """Copy an SB3 ``ContinuousCritic``'s ``qf0..qf{n-1}`` into the twins of ``head`` (``separate`` layout,
        or ``shared`` with one head)."""
        if self.layout != "separate" and self.n_heads != 1:
            raise ValueError("load_from_continuous_critic needs the 'separate' layout or a single head")
        for i in range(self.n_critics):
            self.q_net.load_member(head * self.n_critics + i, getattr(critic, f"qf{i}"))
