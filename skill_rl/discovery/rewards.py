"""Reward terms for skill discovery, each a small class with its formula, on batched transitions.

Two kinds:

* **Intrinsic** (``LSDReward``, ``METRAReward``, ``DIAYNReward``): torch modules with their own networks and optimiser. Their
  reward depends on parameters that keep changing, so it is never stored: SLIM recomputes it for every
  sampled minibatch (``reward(obs, next_obs)``) right after ``update(obs, next_obs)`` on the same minibatch,
  as LSD/METRA do.
* **Extrinsic** (``ReachReward``, ``SafetyReward``): numpy, computed by the env wrapper
  (:mod:`skill_rl.discovery.env`) at every step from the next observation and the step's ``info``, and
  stored in the replay buffer.

Inputs are flat observations ``(B, obs_dim)`` laid out as the tabletop env's ``obs_layout`` (SI units,
world frame) with the skill ``z`` appended last (``skill_slice``). Rewards are ``(B,)`` float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch as th
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .metrics import VIOLATION_KINDS

__all__ = ["DIAYNReward", "IntrinsicReward", "LSDReward", "METRAReward", "ReachReward", "SafetyReward", "default_object_keys",
           "layout_indices"]


def default_object_keys(obs_layout: dict[str, slice]) -> list[str]:
    """Positions of the movable objects: ``<name>_pos`` for every ``<name>`` that also has ``<name>_quat``."""
    return [k for k in obs_layout if k.endswith("_pos") and k[:-4] + "_quat" in obs_layout and k != "eef_pos"]


def layout_indices(obs_layout: dict[str, slice], keys: Sequence[str]) -> list[int]:
    """Flat observation indices of the fields ``keys`` (in that order); unknown keys list the valid ones."""
    out: list[int] = []
    for k in keys:
        if k not in obs_layout:
            raise KeyError(f"unknown observation field {k!r}; available: {', '.join(obs_layout)}")
        s = obs_layout[k]
        out += list(range(s.start, s.stop))
    return out


def _columns(idx: Sequence[int]) -> slice | np.ndarray:
    """Column indexer for flat indices: a slice when they are contiguous (a view, no index conversion per
    call: the terms run every env step), else an index array."""
    idx = [int(i) for i in idx]
    if idx and idx == list(range(idx[0], idx[0] + len(idx))):
        return slice(idx[0], idx[0] + len(idx))
    return np.asarray(idx, dtype=np.intp)


def _mlp(in_dim: int, out_dim: int, hidden: Sequence[int], spectral: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    dims = [in_dim, *hidden, out_dim]
    for i in range(len(dims) - 1):
        lin = nn.Linear(dims[i], dims[i + 1])
        layers.append(spectral_norm(lin) if spectral else lin)
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class IntrinsicReward(nn.Module):
    """Base of the intrinsic terms: reads the state subset ``state_indices`` and the skill ``skill_slice``."""

    def __init__(self, state_indices: Sequence[int], skill_slice: slice, n_skills: int, discrete: bool,
                 lr: float = 1e-4) -> None:
        super().__init__()
        self.state_indices = list(state_indices)
        self.skill_slice = skill_slice
        self.n_skills = n_skills
        self.discrete = discrete
        self.lr = lr
        self.register_buffer("_idx", th.as_tensor(self.state_indices, dtype=th.long), persistent=False)

    def state(self, obs: th.Tensor) -> th.Tensor:
        return obs.index_select(1, self._idx.to(obs.device))

    def skill(self, obs: th.Tensor) -> th.Tensor:
        return obs[:, self.skill_slice]

    def make_optimizer(self) -> th.optim.Optimizer:
        self.optimizer = th.optim.Adam(self.parameters(), lr=self.lr)
        return self.optimizer

    def reward(self, obs: th.Tensor, next_obs: th.Tensor) -> th.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, obs: th.Tensor, next_obs: th.Tensor) -> th.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @th.no_grad()
    def relabel(self, obs: th.Tensor, next_obs: th.Tensor) -> th.Tensor:
        """The reward with the current parameters, in eval mode (a spectral norm then uses its current
        estimate instead of running one more power iteration), without gradients."""
        was_training = self.training
        self.eval()
        try:
            return self.reward(obs, next_obs)
        finally:
            self.train(was_training)

    def update(self, obs: th.Tensor, next_obs: th.Tensor) -> float:
        """One gradient step on ``loss``; returns the loss value."""
        loss = self.loss(obs, next_obs)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return float(loss.item())


class LSDReward(IntrinsicReward):
    """Lipschitz-constrained Skill Discovery (Park et al., ICLR 2022).

    ``r = (φ(s') − φ(s)) · z̃``, with ``φ: R^{|state|} -> R^{d}`` 1-Lipschitz (spectral norm on every linear
    layer) and ``d = n_skills``. Continuous ``z``: ``z̃ = z``. Discrete one-hot ``z`` of N skills: the
    centred mask ``z̃ = (z − 1/N) · N/(N−1)`` (LSD's discrete variant), so one direction is rewarded and the
    others penalised. φ is trained to maximise the same quantity: ``loss = −mean(r)``. The Lipschitz bound
    makes the only way to increase ``r`` an actual change of the state subset (object positions by default),
    in the direction chosen by ``z``.
    """

    def __init__(self, state_indices: Sequence[int], skill_slice: slice, n_skills: int, discrete: bool,
                 hidden: Sequence[int] = (256, 256), lr: float = 1e-4) -> None:
        super().__init__(state_indices, skill_slice, n_skills, discrete, lr)
        self.phi = _mlp(len(self.state_indices), n_skills, hidden, spectral=True)
        self.make_optimizer()

    def skill_direction(self, z: th.Tensor) -> th.Tensor:
        if self.discrete and self.n_skills > 1:
            n = self.n_skills
            return (z - 1.0 / n) * (n / (n - 1))
        return z

    def reward(self, obs: th.Tensor, next_obs: th.Tensor) -> th.Tensor:
        # one forward pass for s and s': in training mode every call to a spectral-normed layer runs a
        # power iteration and changes its normalised weight, so two calls would use two different φ.
        both = self.phi(th.cat([self.state(obs), self.state(next_obs)], dim=0))
        dphi = both[obs.shape[0]:] - both[: obs.shape[0]]
        return (dphi * self.skill_direction(self.skill(obs))).sum(-1)

    def loss(self, obs: th.Tensor, next_obs: th.Tensor) -> th.Tensor:
        return -self.reward(obs, next_obs).mean()


class METRAReward(IntrinsicReward):
    """METRA (Park et al., ICLR 2024): temporal-distance-aware representation with a dual constraint.

    ``r = (φ(s') − φ(s)) · z̃`` as LSD, but φ is a plain MLP (no spectral norm) trained to maximise
    ``E[(φ(s') − φ(s)) · z̃]`` **subject to** ``‖φ(s') − φ(s)‖² ≤ 1`` for every transition (one env step is
    at most one unit of temporal distance), by dual gradient descent, as in ``seohongpark/METRA``
    ``iod/metra.py``:

    * φ loss: ``−mean[r + λ · min(ε, 1 − ‖φ(s') − φ(s)‖²)]`` with ``λ = exp(log_λ)`` held fixed;
    * λ loss: ``log_λ · mean[min(ε, 1 − ‖φ(s') − φ(s)‖²)]`` (detached), so λ grows while the constraint
      is violated and shrinks when it has slack; ``ε`` = ``slack`` (1e-3), ``λ₀`` = ``dual_lam`` (30).

    ``z̃``: continuous z is used as given (METRA's prior is the unit sphere; our wrapper samples N(0, I), so
    ``unit_z=True`` normalises it, as METRA's ``unit_length``); discrete one-hot z uses LSD's centred mask.
    The difference from LSD: the metric is the env's temporal distance instead of the Euclidean distance
    of the chosen state subset, so skills are pushed to cover states that take many steps to reach.
    """

    def __init__(self, state_indices: Sequence[int], skill_slice: slice, n_skills: int, discrete: bool,
                 hidden: Sequence[int] = (256, 256), lr: float = 1e-4, dual_lam: float = 30.0,
                 slack: float = 1e-3, dual_lr: float | None = None, unit_z: bool = True) -> None:
        super().__init__(state_indices, skill_slice, n_skills, discrete, lr)
        self.phi = _mlp(len(self.state_indices), n_skills, hidden)
        self.log_lam = nn.Parameter(th.tensor(math.log(dual_lam), dtype=th.float32))
        self.slack, self.unit_z = slack, unit_z
        self.optimizer = th.optim.Adam(self.phi.parameters(), lr=lr)
        self.dual_optimizer = th.optim.Adam([self.log_lam], lr=dual_lr if dual_lr is not None else lr)

    def skill_direction(self, z: th.Tensor) -> th.Tensor:
        if self.discrete and self.n_skills > 1:
            n = self.n_skills
            return (z - 1.0 / n) * (n / (n - 1))
        if self.unit_z:
            return z / z.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        return z

    def _dphi(self, obs: th.Tensor, next_obs: th.Tensor) -> th.Tensor:
        both = self.phi(th.cat([self.state(obs), self.state(next_obs)], dim=0))
        return both[obs.shape[0]:] - both[: obs.shape[0]]

    def reward(self, obs: th.Tensor, next_obs: th.Tensor) -> th.Tensor:
        return (self._dphi(obs, next_obs) * self.skill_direction(self.skill(obs))).sum(-1)

    def penalty(self, dphi: th.Tensor) -> th.Tensor:
        """``min(ε, 1 − ‖Δφ‖²)`` per transition (negative where the constraint is violated)."""
        return th.clamp(1.0 - (dphi**2).sum(-1), max=self.slack)

    def loss(self, obs: th.Tensor, next_obs: th.Tensor) -> th.Tensor:
        dphi = self._dphi(obs, next_obs)
        r = (dphi * self.skill_direction(self.skill(obs))).sum(-1)
        return -(r + self.log_lam.detach().exp() * self.penalty(dphi)).mean()

    @property
    def lam(self) -> float:
        return float(self.log_lam.detach().exp())

    def update(self, obs: th.Tensor, next_obs: th.Tensor) -> float:
        """One step on φ (λ fixed) and one dual step on ``log_λ``, both from the same forward pass (METRA
        computes its dual loss from the φ loss's penalty, detached)."""
        dphi = self._dphi(obs, next_obs)
        r = (dphi * self.skill_direction(self.skill(obs))).sum(-1)
        pen = self.penalty(dphi)
        loss = -(r + self.log_lam.detach().exp() * pen).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        dual_loss = self.log_lam * pen.detach().mean()
        self.dual_optimizer.zero_grad()
        dual_loss.backward()
        self.dual_optimizer.step()
        return float(loss.item())


class DIAYNReward(IntrinsicReward):
    """DIAYN (Eysenbach et al., ICLR 2019): ``r = log q(z|s') − log p(z)``.

    Discrete z (uniform prior over N one-hot skills): q is a softmax classifier, ``log p(z) = −log N``, the
    discriminator loss is the cross-entropy of the skill given ``s'``. Continuous z (prior N(0, I)): q is a
    unit-variance Gaussian with learned mean μ(s'), ``log q(z|s') − log p(z) = (‖z‖² − ‖z − μ(s')‖²) / 2``,
    and the loss is ``mean ‖z − μ(s')‖² / 2``.
    """

    def __init__(self, state_indices: Sequence[int], skill_slice: slice, n_skills: int, discrete: bool,
                 hidden: Sequence[int] = (256, 256), lr: float = 3e-4) -> None:
        super().__init__(state_indices, skill_slice, n_skills, discrete, lr)
        self.q = _mlp(len(self.state_indices), n_skills, hidden)
        self.make_optimizer()

    def log_q(self, obs: th.Tensor, next_obs: th.Tensor) -> th.Tensor:
        out = self.q(self.state(next_obs))
        z = self.skill(obs)
        if self.discrete:
            return (th.log_softmax(out, -1) * z).sum(-1)
        return -0.5 * ((z - out) ** 2).sum(-1) - 0.5 * z.shape[1] * math.log(2 * math.pi)

    def log_p(self, z: th.Tensor) -> th.Tensor:
        if self.discrete:
            return th.full(z.shape[:1], -math.log(self.n_skills), device=z.device)
        return -0.5 * (z**2).sum(-1) - 0.5 * z.shape[1] * math.log(2 * math.pi)

    def reward(self, obs: th.Tensor, next_obs: th.Tensor) -> th.Tensor:
        return self.log_q(obs, next_obs) - self.log_p(self.skill(obs))

    def loss(self, obs: th.Tensor, next_obs: th.Tensor) -> th.Tensor:
        return -self.log_q(obs, next_obs).mean()


class ReachReward:
    """Reach term: ``r = −‖p_eef − p_obj‖`` (metres, world frame) ``+ contact_bonus · [gripper touches obj]``.

    ``eef_idx`` / ``obj_idx`` are the flat indices of ``eef_pos`` and the object's ``<name>_pos``.
    """

    def __init__(self, eef_idx: Sequence[int], obj_idx: Sequence[int], contact_bonus: float = 0.0) -> None:
        self.eef_idx, self.obj_idx, self.contact_bonus = list(eef_idx), list(obj_idx), contact_bonus
        self._eef, self._obj = _columns(self.eef_idx), _columns(self.obj_idx)

    def __call__(self, next_obs: np.ndarray, gripper_contact: np.ndarray | None = None) -> np.ndarray:
        d = np.linalg.norm(next_obs[:, self._eef] - next_obs[:, self._obj], axis=-1)
        r = -d
        if gripper_contact is not None and self.contact_bonus:
            r = r + self.contact_bonus * gripper_contact.astype(np.float64)
        return r.astype(np.float32)


class SafetyReward:
    """Safety term: ``r = −Σ_j c_j · v_j`` (≤ 0) over four violation indicators ``v_j ∈ {0, 1}``:

    * joint-limit proximity: some arm joint within ``limit_margin`` (fraction of its range) of a limit;
    * excessive joint velocity: some ``|q̇_i| > max_joint_vel`` (rad/s; default 2.175, the Panda's
      published limit of joints 1-4);
    * object off the table: object centre outside the table top (``table_half_xy``, m) or below
      ``min_object_z`` (m);
    * table collision of a non-gripper link: the step's ``info["contacts"]`` holds ``("arm", "table")``
      (given by the wrapper as ``arm_table_contact``).

    ``violations`` returns the ``(B, 4)`` boolean indicators (for the safety-violation-rate metric).
    """

    NAMES = VIOLATION_KINDS

    def __init__(self, joint_pos_idx: Sequence[int], joint_vel_idx: Sequence[int], obj_idx: Sequence[int] | None,
                 joint_limits: np.ndarray, *, limit_margin: float = 0.05, max_joint_vel: float = 2.175,
                 table_half_xy: tuple[float, float] = (0.45, 0.6), min_object_z: float = -0.05,
                 costs: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> None:
        self.jp, self.jv = list(joint_pos_idx), list(joint_vel_idx)
        self.obj = list(obj_idx) if obj_idx else None
        lim = np.asarray(joint_limits, dtype=np.float64)
        margin = limit_margin * (lim[:, 1] - lim[:, 0])
        self.lo, self.hi = lim[:, 0] + margin, lim[:, 1] - margin
        self.max_joint_vel = max_joint_vel
        self.table_half_xy = np.asarray(table_half_xy, dtype=np.float64)
        self.min_object_z = min_object_z
        self.costs = np.asarray(costs, dtype=np.float64)
        self._jp, self._jv = _columns(self.jp), _columns(self.jv)
        self._obj = _columns(self.obj) if self.obj is not None else None

    def violations(self, next_obs: np.ndarray, arm_table_contact: np.ndarray | None = None) -> np.ndarray:
        q = next_obs[:, self._jp]
        v = np.zeros((next_obs.shape[0], 4), dtype=bool)
        v[:, 0] = ((q < self.lo) | (q > self.hi)).any(-1)
        v[:, 1] = (np.abs(next_obs[:, self._jv]) > self.max_joint_vel).any(-1)
        if self._obj is not None:
            p = next_obs[:, self._obj]
            v[:, 2] = (np.abs(p[:, :2]) > self.table_half_xy).any(-1) | (p[:, 2] < self.min_object_z)
        if arm_table_contact is not None:
            v[:, 3] = arm_table_contact
        return v

    def __call__(self, next_obs: np.ndarray, arm_table_contact: np.ndarray | None = None) -> np.ndarray:
        return -(self.violations(next_obs, arm_table_contact) @ self.costs).astype(np.float32)
