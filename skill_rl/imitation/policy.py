"""The behaviour-cloning policy of the core, π(a | o_{t-H+1..t}, g), and its deployable wrapper.

:class:`BCPolicy` (torch module): normaliser (std floored, clipped, ignored features zeroed) -> the flattened
history of H frames, plus optionally the goal's features (``goal_index``: which observation features a goal
is made of, e.g. the objects' poses) -> :class:`~skill_rl.imitation.nets.PolicyNet` (MLP trunk + head; with
``goal_film`` the goal features also scale and shift every hidden layer). With ``latent_dim`` > 0 it is Play-LMP's
policy π(a | o, g, z) and holds the plan proposal Ψ(z | o, g); acting, z is the proposal's mean at every step
(:class:`~skill_rl.imitation.lmp.PlanLearner` trains it with the plan recognition network).
Inputs are raw observations; the statistics travel with the weights.

:class:`HistoryPolicy` keeps the history while acting (``reset()`` at every episode start, then
``act(obs, goal)``), and saves/loads the policy (``torch.load(weights_only=True)``-safe, written atomically)::

    policy = HistoryPolicy.load("runs/.../policy.pt")
    policy.reset()
    action = policy.act(obs, goal_obs)    # goal_obs: a whole raw observation; ignored without a goal
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np
import torch
from torch import nn
from torch.distributions import Independent

from skill_rl.errors import UserError
from skill_rl.fileio import atomic_path, atomic_write_text

from .data import BCBatch
from .heads import HEADS, Params, beta_nll
from .history import ObsHistory
from .latent import PlanProposal
from .nets import Normaliser, PolicyNet

__all__ = ["FORMAT", "BCConfig", "BCLoss", "BCPolicy", "HistoryPolicy", "PolicyLoadError", "checked_index",
           "read_policy_file", "write_policy_file"]

FORMAT = "skill_rl.imitation.policy/1"
ModuleT = TypeVar("ModuleT", bound=nn.Module)


def checked_index(name: str, index: list[int], dim: int, allow_empty: bool) -> list[int]:
    """``index`` as ints, each in [0, dim); a clear error naming ``name`` otherwise."""
    index = [int(i) for i in index]
    if (not index and not allow_empty) or any(not 0 <= i < dim for i in index):
        raise ValueError(f"{name} must be a list of indices in [0, {dim}){'' if allow_empty else ', not empty'}, "
                         f"got {index}")
    return index


@dataclass
class BCConfig:
    """Shape and recipe of a :class:`BCPolicy` (saved with it). Defaults: the recipe that learns on the
    scripted demos (MLP 2 x 256, history 2, Gaussian head, std floor 0.05, clip 10)."""

    obs_dim: int
    act_dim: int
    history: int = 2
    hidden: int = 256
    layers: int = 2
    head: str = "gaussian"  # gaussian | gmm | gaussian_mixture | logistic
    n_mix: int = 5
    n_bins: int = 256
    min_std: float = 1e-4
    goal_index: list[int] | None = None  # goal features (indices into the observation); None = no goal
    goal_delta: bool = False  # also feed goal - current on the goal features (which object should move where)
    goal_film: bool = False  # the goal features also scale and shift every hidden layer (FiLMTrunk)
    latent_dim: int = 0  # Play-LMP: a latent plan z of this size (0 = none); acting, z = the proposal's mean
    ignore_index: list[int] | None = None  # features never seen (zero after normalising)
    std_floor: float = 0.05  # normaliser: every std raised to at least this
    clip: float = 10.0  # normaliser: normalised features clipped to +-clip
    nll_beta: float = 0.0  # β-NLL exponent of the training loss (0 = plain NLL)

    def __post_init__(self) -> None:
        if self.obs_dim < 1 or self.act_dim < 1 or self.history < 1:
            raise ValueError("obs_dim, act_dim and history must be >= 1")
        if self.head not in HEADS:
            raise ValueError(f"unknown action head {self.head!r}; available: {', '.join(sorted(HEADS))}")
        if not 0.0 <= self.nll_beta <= 1.0:
            raise ValueError(f"nll_beta must be in [0, 1], got {self.nll_beta}")
        if self.goal_index is not None:
            self.goal_index = checked_index("goal_index", self.goal_index, self.obs_dim, allow_empty=False)
        elif self.goal_film or self.latent_dim:
            raise ValueError("goal_film and latent_dim need a goal (goal_index)")
        if self.latent_dim < 0:
            raise ValueError(f"latent_dim must be >= 0, got {self.latent_dim}")
        if self.ignore_index is not None:
            self.ignore_index = checked_index("ignore_index", self.ignore_index, self.obs_dim, allow_empty=True)

    @property
    def goal_dim(self) -> int:
        return 0 if self.goal_index is None else len(self.goal_index) * (2 if self.goal_delta else 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class BCLoss(NamedTuple):
    """total: what is minimised (β-NLL if ``nll_beta`` > 0); nll: the plain action NLL (nats)."""

    total: torch.Tensor
    nll: torch.Tensor


class BCPolicy(nn.Module):
    """π(a | o_{t-H+1..t}, g); see the module docstring."""

    def __init__(self, cfg: BCConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.norm = Normaliser(cfg.obs_dim, cfg.ignore_index, cfg.clip)
        self.register_buffer("goal_idx", torch.as_tensor(cfg.goal_index or [], dtype=torch.long), persistent=False)
        self.net = PolicyNet(cfg.obs_dim * cfg.history + cfg.goal_dim + cfg.latent_dim, cfg.act_dim, cfg.hidden,
                             cfg.layers, cfg.head, cfg.n_mix, cfg.n_bins, cfg.min_std,
                             cond_dim=cfg.goal_dim + cfg.latent_dim if cfg.goal_film else 0)
        # Play-LMP: Ψ(z | s, g) on the newest frame and the goal input (the recognition network is training-only)
        self.proposal = (PlanProposal(cfg.obs_dim, cfg.latent_dim, cfg.hidden, cfg.layers, goal_dim=cfg.goal_dim)
                         if cfg.latent_dim else None)

    def set_normaliser(self, mean: Any, std: Any) -> None:
        """Observation statistics ((D,) each, raw units); stds are floored at ``cfg.std_floor``."""
        self.norm.set_stats(mean, std, floor=self.cfg.std_floor)

    def inputs(self, obs: torch.Tensor, goal: torch.Tensor | None = None, z: torch.Tensor | None = None
               ) -> torch.Tensor:
        """Raw obs (B, H, D) (or (B, D) when H = 1), goal (B, D) and, with a latent plan, z (B, Z) (None: the
        proposal's mean) -> the network input (B, H*D + G + Z)."""
        if obs.dim() == 2:
            obs = obs[:, None]
        if obs.shape[1:] != (self.cfg.history, self.cfg.obs_dim):
            raise ValueError(f"obs must be (B, {self.cfg.history}, {self.cfg.obs_dim}), got {tuple(obs.shape)}")
        x = self.norm(obs).flatten(1)
        if self.cfg.goal_index is None:
            return x
        newest = self.norm(obs[:, -1])
        g = self.goal_input(newest, goal)
        if self.proposal is None:
            return torch.cat([x, g], dim=-1)
        if z is None:
            z = self.proposal(newest, g).mean
        elif z.shape != (x.shape[0], self.cfg.latent_dim):
            raise ValueError(f"z must be (B, {self.cfg.latent_dim}) = ({x.shape[0]}, {self.cfg.latent_dim}), "
                             f"got {tuple(z.shape)}")
        return torch.cat([x, g, z], dim=-1)

    def goal_input(self, newest: torch.Tensor, goal: torch.Tensor | None) -> torch.Tensor:
        """The normalised newest frame (B, D) and the raw goal observation (B, D) -> the goal input (B, G): the
        goal's features and, with ``goal_delta``, their difference to the newest frame's."""
        if goal is None or goal.shape[-1] != self.cfg.obs_dim:
            got = None if goal is None else tuple(goal.shape)
            raise ValueError(f"this policy is goal-conditioned: pass goal observations (B, {self.cfg.obs_dim}) "
                             f"in the observation layout, got {got}")
        g = self.norm(goal).index_select(-1, self.goal_idx)
        if self.cfg.goal_delta:  # the newest frame's features against the goal's
            g = torch.cat([g, g - newest.index_select(-1, self.goal_idx)], dim=-1)
        return g

    def propose(self, obs: torch.Tensor, goal: torch.Tensor) -> Independent:
        """Ψ(z | s, g) for a raw frame (B, D) and goal observation (B, D) (Play-LMP policies only)."""
        if self.proposal is None:
            raise ValueError("this policy has no latent plan (latent_dim 0)")
        newest = self.norm(obs)
        return self.proposal(newest, self.goal_input(newest, goal))

    def params(self, obs: torch.Tensor, goal: torch.Tensor | None = None, z: torch.Tensor | None = None) -> Params:
        x = self.inputs(obs, goal, z)
        # FiLM: the goal features and the plan (the inputs' last columns) also condition every hidden layer
        cond = self.cfg.goal_dim + self.cfg.latent_dim
        return self.net(x, cond=x[:, -cond:]) if self.cfg.goal_film else self.net(x)

    def loss(self, batch: BCBatch) -> BCLoss:
        params = self.params(batch.obs, batch.goal)
        nll, train = beta_nll(self.net.head, params, batch.actions, beta=self.cfg.nll_beta)
        return BCLoss(train, nll)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, goal: torch.Tensor | None = None, deterministic: bool = True) -> torch.Tensor:
        """(B, A) actions: the head's mode (``deterministic``) or a sample."""
        params = self.params(obs, goal)
        return self.net.mode(params) if deterministic else self.net.sample(params)


class PolicyLoadError(UserError, ValueError):
    """A saved policy file is missing, unreadable, corrupt or of another format; the message names it."""


def write_policy_file(path: str | os.PathLike[str], fmt: str, config: dict[str, Any], module: nn.Module) -> Path:
    """Write ``module``'s weights and ``config`` to ``path`` atomically, plus a readable ``.json`` sidecar.

    One file format for every policy of the stack (the core's and Play-LMP's): ``torch.save`` of ``{"format",
    "config": <JSON text>, "state_dict"}``, plain tensors and strings only, so ``weights_only=True`` loads it."""
    path = Path(path)
    if path.suffix == ".json":
        raise ValueError(f"{path}: the weights file must not end in .json (that name is the config sidecar)")
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"format": fmt, "config": json.dumps(config), "state_dict": state}, tmp)
    atomic_write_text(path.with_suffix(".json"), json.dumps({"format": fmt, **config}, indent=2) + "\n")
    return path


def read_policy_file(path: str | os.PathLike[str], fmt: str, what: str,
                     build: Callable[[dict[str, Any]], ModuleT]) -> tuple[ModuleT, dict[str, Any]]:
    """Read a file of :func:`write_policy_file`: ``build(config)`` makes the module, the weights go in.

    Returns ``(module, config)``. :class:`PolicyLoadError` names the file when it is missing, truncated or
    corrupt, of another format (``what`` says which kind was expected), or its weights do not fit its config."""
    path = Path(path)
    if not path.is_file():
        raise PolicyLoadError(f"policy file not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, zipfile errors...
        raise PolicyLoadError(f"{path}: cannot read the policy file (truncated or corrupt?): "
                              f"{type(exc).__name__}: {exc}") from None
    if not isinstance(blob, dict) or blob.get("format") != fmt:
        got = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise PolicyLoadError(f"{path}: not a skill_rl {what} (format {got!r}, expected {fmt!r})")
    try:
        config = json.loads(blob["config"])
        module = build(config)
        module.load_state_dict(blob["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise PolicyLoadError(f"{path}: policy config and weights do not match: {exc}") from None
    return module, config


class HistoryPolicy:
    """A :class:`BCPolicy` for acting: keeps the observation history; ``act(obs, goal)`` takes raw (D,) or
    (N, D) observations (N parallel episodes) and returns float32 actions (A,) or (N, A)."""

    def __init__(self, model: BCPolicy, deterministic: bool = True, device: str | torch.device = "cpu") -> None:
        self.model = model.to(device).eval()
        self.deterministic = bool(deterministic)
        self.device = torch.device(device)
        self.history = ObsHistory(model.cfg.history)

    @property
    def config(self) -> BCConfig:
        return self.model.cfg

    def reset(self) -> None:
        """Forget the history (call at every episode start)."""
        self.history.reset()

    def act(self, obs: Any, goal: Any = None) -> np.ndarray:
        o = np.asarray(obs, np.float32)
        single = o.ndim == 1
        if o.shape[-1] != self.config.obs_dim:
            raise ValueError(f"obs must have {self.config.obs_dim} features, got shape {o.shape}")
        frames = self.history.push(o)
        x = torch.as_tensor(frames[None] if single else frames, device=self.device)
        g = None
        if self.config.goal_index is not None:
            if goal is None:
                raise ValueError("this policy is goal-conditioned: act(obs, goal) needs a goal observation")
            g_np = np.asarray(goal, np.float32)
            g = torch.as_tensor(np.broadcast_to(g_np, (x.shape[0], g_np.shape[-1])).copy(), device=self.device)
        a = self.model.act(x, g, self.deterministic).cpu().numpy().astype(np.float32)
        return a[0] if single else a

    def save(self, path: str | os.PathLike[str], meta: dict[str, Any] | None = None) -> Path:
        """Write ``path`` (weights + config, atomically) and a ``.json`` sidecar; returns ``path``."""
        return write_policy_file(path, FORMAT, {"policy": self.config.to_dict(), "meta": meta or {}}, self.model)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, deterministic: bool = True,
             device: str | torch.device = "cpu") -> HistoryPolicy:
        """Load a policy written by :meth:`save`; :class:`PolicyLoadError` names the file on any problem."""
        model, _ = read_policy_file(path, FORMAT, "imitation policy",
                                    lambda config: BCPolicy(BCConfig(**config["policy"])))
        return cls(model, deterministic=deterministic, device=device)
