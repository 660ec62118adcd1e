"""Task-conditioned behaviour-cloning policies for lifelong learning (PyTorch).

A policy maps an observation history ``obs`` (B, H, D) (float32, normalised inside the module), and a task
(its index, and its language instruction as a fixed hashed bag-of-words vector) to an action distribution.
Three encoders: ``mlp`` (flattened history), ``transformer`` (one token per time step plus a task token, like
LIBERO's ResNet-T temporal decoder at CPU size) and ``cnn`` (a small conv net over a 64x64 RGB image plus the
low-dim state; images come as ``images`` (B, 3, 64, 64) uint8/float). Heads: ``gaussian`` (diagonal) or
``gmm`` (LIBERO's GMM head: K modes, softplus std with a floor). Actions live in [-1, 1].

The normaliser, the MLP trunk and the heads are the imitation core's (:mod:`skill_rl.imitation`): this
module adds the task conditioning and the transformer / cnn encoders in front of the core's
:class:`~skill_rl.imitation.nets.PolicyNet`.

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

from skill_rl.imitation.heads import Params
from skill_rl.imitation.nets import Normaliser, PolicyNet

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
    """BC policy ``pi(a | o_{t-H+1..t}, task)``; see the module docstring. ``loss`` is the mean NLL.

    Encoder (``mlp``: the flattened normalised history and the task embedding; ``transformer``; ``cnn``) ->
    the core's :class:`~skill_rl.imitation.nets.PolicyNet` (``self.net``: MLP trunk + action head).
    """

    def __init__(self, cfg: PolicyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.norm = Normaliser(cfg.obs_dim, clip=10.0)
        if cfg.task_embedding == "text":
            self.task_embed: nn.Module = nn.Linear(cfg.text_dim, cfg.task_dim)
        else:
            self.task_embed = nn.Embedding(cfg.max_tasks, cfg.task_dim)
        layers = cfg.layers
        if cfg.encoder == "mlp":
            in_dim = cfg.obs_dim * cfg.history + cfg.task_dim
        elif cfg.encoder == "transformer":
            self.obs_in = nn.Linear(cfg.obs_dim, cfg.d_model)
            self.task_in = nn.Linear(cfg.task_dim, cfg.d_model)
            self.pos = nn.Parameter(torch.zeros(cfg.history + 1, cfg.d_model))
            nn.init.normal_(self.pos, std=0.02)
            layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.n_heads, dim_feedforward=2 * cfg.d_model,
                                               dropout=0.0, batch_first=True)
            self.temporal = nn.TransformerEncoder(layer, num_layers=cfg.layers, enable_nested_tensor=False)
            in_dim, layers = cfg.d_model, 2
        else:  # cnn
            self.conv = nn.Sequential(
                nn.Conv2d(3, 16, 5, stride=2), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(),
                nn.Conv2d(32, 32, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
            in_dim = 32 * 4 + cfg.obs_dim * cfg.history + cfg.task_dim
        self.net = PolicyNet(in_dim, cfg.act_dim, cfg.hidden, layers, cfg.head, n_mix=cfg.n_modes,
                             min_std=cfg.min_std)

    # ------------------------------------------------------------------ features
    def set_normaliser(self, mean: np.ndarray, std: np.ndarray, floor: float = 0.05) -> None:
        """Observation mean/std (std floored: zero-padded fields of absent objects have std 0).

        The floor also scales the fields a later task adds (absent, so all zero, in the first task's data)
        by 1/floor, so they stay visible to the net: leaving them unscaled (mean 0, std 1) was measured to
        break learning of the second tabletop-object task (2.5 % vs 82.5 % success, docs/lifelong.md).
        """
        self.norm.set_stats(mean, std, floor=floor)

    def task_features(self, task_ids: torch.Tensor, text: torch.Tensor | None) -> torch.Tensor:
        if self.cfg.task_embedding == "text":
            if text is None:
                raise ValueError("this policy is conditioned on language: pass the instruction's text features")
            return self.task_embed(text)
        return self.task_embed(task_ids)

    def encode(self, obs: torch.Tensor, task_ids: torch.Tensor, text: torch.Tensor | None = None,
               images: torch.Tensor | None = None) -> torch.Tensor:
        """The input of ``self.net`` for obs (B, H, D) and the task."""
        if obs.dim() == 2:
            obs = obs[:, None]
        x = self.norm(obs)
        t = self.task_features(task_ids, text)
        if self.cfg.encoder == "mlp":
            return torch.cat([x.flatten(1), t], dim=1)
        if self.cfg.encoder == "transformer":
            tokens = torch.cat([self.task_in(t)[:, None], self.obs_in(x)], dim=1) + self.pos[: x.shape[1] + 1]
            return self.temporal(tokens)[:, -1]
        if images is None:
            raise ValueError("the cnn encoder needs images (B, 3, 64, 64)")
        img = images.float() / 255.0 if images.dtype == torch.uint8 else images
        return torch.cat([self.conv(img), x.flatten(1), t], dim=1)

    def params(self, obs: torch.Tensor, task_ids: torch.Tensor, text: torch.Tensor | None = None,
               images: torch.Tensor | None = None) -> Params:
        """The action head's params for obs (B, H, D) and the task."""
        return self.net(self.encode(obs, task_ids, text, images))

    def loss(self, obs: torch.Tensor, actions: torch.Tensor, task_ids: torch.Tensor,
             text: torch.Tensor | None = None, images: torch.Tensor | None = None) -> torch.Tensor:
        """Mean negative log-likelihood of the demonstrated actions (the BC loss)."""
        return -self.net.log_prob(self.params(obs, task_ids, text, images), actions).mean()

    @torch.no_grad()
    def act(self, obs: torch.Tensor, task_ids: torch.Tensor, text: torch.Tensor | None = None,
            images: torch.Tensor | None = None) -> torch.Tensor:
        """Deterministic action (B, A): the mean (gaussian) or the most likely mode's mean (gmm)."""
        return self.net.mode(self.params(obs, task_ids, text, images))


def texts_tensor(languages: Sequence[str], dim: int) -> torch.Tensor:
    """(N, dim) text features of N instructions."""
    return torch.as_tensor(np.stack([text_features(s, dim) for s in languages]))
