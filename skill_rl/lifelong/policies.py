"""Task-conditioned behaviour-cloning policies for lifelong learning (PyTorch).

A policy maps an observation history ``obs`` (B, H, D) (float32, normalised inside the module), and a task
(its index, and its language instruction as a fixed hashed bag-of-words vector) to an action distribution.
Three encoders: ``mlp`` (flattened history), ``transformer`` (one token per time step plus a task token, like
LIBERO's ResNet-T temporal decoder at CPU size) and ``cnn`` (a small conv net over a 64x64 RGB image plus the
low-dim state; images come as ``images`` (B, 3, 64, 64) uint8/float). Heads: ``gaussian`` (diagonal) or
``gmm`` (LIBERO's GMM head: K modes, softplus std with a floor). Actions live in [-1, 1].

No pretrained language model: LIBERO's Table 3 shows task-id embeddings do as well as BERT, and nothing may
be downloaded at run time, so the instruction is hashed into a bag of words (:func:`text_features`).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from skill_rl.play.models import mlp

__all__ = ["PolicyConfig", "TaskPolicy", "text_features", "texts_tensor"]

_TOKEN = re.compile(r"[a-z0-9]+")


def text_features(text: str, dim: int = 128) -> np.ndarray:
    """Hashed bag of words (unigrams and bigrams, crc32 buckets, L2-normalised) of a language instruction.

    Deterministic across processes and Python versions (crc32, not ``hash``), so a saved policy maps the same
    instruction to the same vector after reloading.
    """
    words = _TOKEN.findall(text.lower())
    grams = words + [f"{a}_{b}" for a, b in zip(words, words[1:], strict=False)]
    v = np.zeros(dim, np.float32)
    for g in grams:
        h = zlib.crc32(g.encode())
        v[h % dim] += 1.0 if (h >> 31) & 1 == 0 else -1.0  # signed hashing keeps collisions unbiased
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


@dataclass
class PolicyConfig:
    """Shape and architecture of a :class:`TaskPolicy` (saved with every checkpoint)."""

    obs_dim: int
    act_dim: int
    history: int = 1  # observation frames per decision (LIBERO: 10)
    encoder: str = "mlp"  # mlp | transformer | cnn
    task_embedding: str = "text"  # text (hashed bag of words of the instruction) | id (learned per task index)
    max_tasks: int = 16  # rows of the task-id table
    text_dim: int = 128
    task_dim: int = 32
    hidden: int = 256
    layers: int = 2
    head: str = "gaussian"  # gaussian | gmm
    n_modes: int = 5  # gmm
    min_std: float = 1e-4
    d_model: int = 64  # transformer width
    n_heads: int = 4
    image_size: int = 64  # cnn

    def __post_init__(self) -> None:
        if self.encoder not in ("mlp", "transformer", "cnn"):
            raise ValueError(f"encoder must be mlp, transformer or cnn, got {self.encoder!r}")
        if self.task_embedding not in ("text", "id"):
            raise ValueError(f"task_embedding must be text or id, got {self.task_embedding!r}")
        if self.head not in ("gaussian", "gmm"):
            raise ValueError(f"head must be gaussian or gmm, got {self.head!r}")
        if self.history < 1 or self.obs_dim < 1 or self.act_dim < 1:
            raise ValueError("history, obs_dim and act_dim must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


class TaskPolicy(nn.Module):
    """BC policy ``pi(a | o_{t-H+1..t}, task)``; see the module docstring. ``loss`` is the mean NLL."""

    def __init__(self, cfg: PolicyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("obs_mean", torch.zeros(cfg.obs_dim))
        self.register_buffer("obs_std", torch.ones(cfg.obs_dim))
        if cfg.task_embedding == "text":
            self.task_embed: nn.Module = nn.Linear(cfg.text_dim, cfg.task_dim)
        else:
            self.task_embed = nn.Embedding(cfg.max_tasks, cfg.task_dim)
        feat = cfg.hidden
        if cfg.encoder == "mlp":
            self.trunk = mlp(cfg.obs_dim * cfg.history + cfg.task_dim, cfg.hidden, cfg.layers - 1, cfg.hidden)
        elif cfg.encoder == "transformer":
            self.obs_in = nn.Linear(cfg.obs_dim, cfg.d_model)
            self.task_in = nn.Linear(cfg.task_dim, cfg.d_model)
            self.pos = nn.Parameter(torch.zeros(cfg.history + 1, cfg.d_model))
            nn.init.normal_(self.pos, std=0.02)
            layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.n_heads, dim_feedforward=2 * cfg.d_model,
                                               dropout=0.0, batch_first=True)
            self.temporal = nn.TransformerEncoder(layer, num_layers=cfg.layers, enable_nested_tensor=False)
            self.trunk = mlp(cfg.d_model, cfg.hidden, 1, cfg.hidden)
        else:  # cnn
            self.conv = nn.Sequential(
                nn.Conv2d(3, 16, 5, stride=2), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(),
                nn.Conv2d(32, 32, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
            self.trunk = mlp(32 * 4 + cfg.obs_dim * cfg.history + cfg.task_dim, cfg.hidden, cfg.layers - 1,
                              cfg.hidden)
        self.relu = nn.ReLU()
        n_out = 2 * cfg.act_dim if cfg.head == "gaussian" else cfg.n_modes * (2 * cfg.act_dim + 1)
        self.head = nn.Linear(feat, n_out)

    # ------------------------------------------------------------------ features
    def set_normaliser(self, mean: np.ndarray, std: np.ndarray, floor: float = 0.05) -> None:
        """Observation mean/std (std floored: zero-padded fields of absent objects have std 0).

        The floor also scales the fields a later task adds (absent, so all zero, in the first task's data)
        by 1/floor, so they stay visible to the net: leaving them unscaled (mean 0, std 1) was measured to
        break learning of the second tabletop-object task (2.5 % vs 82.5 % success, docs/lifelong.md).
        """
        self.obs_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.obs_std.copy_(torch.as_tensor(np.maximum(std, floor), dtype=torch.float32))

    def task_features(self, task_ids: torch.Tensor, text: torch.Tensor | None) -> torch.Tensor:
        if self.cfg.task_embedding == "text":
            if text is None:
                raise ValueError("this policy is conditioned on language: pass the instruction's text features")
            return self.task_embed(text)
        return self.task_embed(task_ids)

    def features(self, obs: torch.Tensor, task_ids: torch.Tensor, text: torch.Tensor | None = None,
                 images: torch.Tensor | None = None) -> torch.Tensor:
        """(B, hidden) features of obs (B, H, D) and the task."""
        if obs.dim() == 2:
            obs = obs[:, None]
        x = ((obs - self.obs_mean) / self.obs_std).clamp(-10.0, 10.0)
        t = self.task_features(task_ids, text)
        if self.cfg.encoder == "mlp":
            h = self.trunk(torch.cat([x.flatten(1), t], dim=1))
        elif self.cfg.encoder == "transformer":
            tokens = torch.cat([self.task_in(t)[:, None], self.obs_in(x)], dim=1) + self.pos[: x.shape[1] + 1]
            h = self.trunk(self.temporal(tokens)[:, -1])
        else:
            if images is None:
                raise ValueError("the cnn encoder needs images (B, 3, 64, 64)")
            img = images.float() / 255.0 if images.dtype == torch.uint8 else images
            h = self.trunk(torch.cat([self.conv(img), x.flatten(1), t], dim=1))
        return self.relu(h)

    def _dist_params(self, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.head(h)
        a = self.cfg.act_dim
        if self.cfg.head == "gaussian":
            mean, log_std = out.split(a, dim=-1)
            return torch.tanh(mean), log_std.clamp(-7.0, 2.0).exp() + self.cfg.min_std
        k = self.cfg.n_modes
        logits = out[:, :k]
        mean, raw_std = out[:, k:].reshape(-1, k, 2 * a).split(a, dim=-1)
        return torch.tanh(mean), F.softplus(raw_std) + self.cfg.min_std, logits

    def log_prob(self, actions: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """(B,) log-likelihood of actions (B, A) given features."""
        params = self._dist_params(h)
        if self.cfg.head == "gaussian":
            mean, std = params
            return torch.distributions.Normal(mean, std).log_prob(actions).sum(-1)
        mean, std, logits = params
        comp = torch.distributions.Normal(mean, std).log_prob(actions[:, None]).sum(-1)  # (B, K)
        return torch.logsumexp(F.log_softmax(logits, -1) + comp, dim=-1)

    def loss(self, obs: torch.Tensor, actions: torch.Tensor, task_ids: torch.Tensor,
             text: torch.Tensor | None = None, images: torch.Tensor | None = None) -> torch.Tensor:
        """Mean negative log-likelihood of the demonstrated actions (the BC loss)."""
        return -self.log_prob(actions, self.features(obs, task_ids, text, images)).mean()

    @torch.no_grad()
    def act(self, obs: torch.Tensor, task_ids: torch.Tensor, text: torch.Tensor | None = None,
            images: torch.Tensor | None = None) -> torch.Tensor:
        """Deterministic action (B, A): the mean (gaussian) or the most likely mode's mean (gmm)."""
        params = self._dist_params(self.features(obs, task_ids, text, images))
        if self.cfg.head == "gaussian":
            return params[0]
        mean, _, logits = params
        return mean[torch.arange(mean.shape[0]), logits.argmax(-1)]


def texts_tensor(languages: Sequence[str], dim: int) -> torch.Tensor:
    """(N, dim) text features of N instructions."""
    return torch.as_tensor(np.stack([text_features(s, dim) for s in languages]))
