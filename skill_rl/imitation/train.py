"""The training loop every imitation learner shares: :func:`fit`.

``fit(model, sample, cfg, ckpt_path=...)`` runs ``cfg.steps`` gradient steps of ``loss(sample(rng, batch_size))``
(``loss`` defaults to ``model.loss``; it returns a scalar tensor or a NamedTuple whose ``total`` is minimised
and whose other fields are logged). The optimiser is AdamW (or Adam) with a cosine (or constant) learning
rate, gradients are clipped, and a non-finite loss stops training *before* it is applied
(:class:`NonFiniteLossError`). Batches are drawn with a numpy generator seeded by ``cfg.seed``; the model's
initialisation is the caller's (seed torch before building it).

Checkpoints (every ``ckpt_every`` steps and at the end) are written atomically and hold the model, the
optimiser, the schedule and both random states, so a run killed at any point resumes from its last
checkpoint with the same batches and gives the same result as an uninterrupted run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from skill_rl.errors import UserError
from skill_rl.fileio import atomic_path

__all__ = ["FitConfig", "NonFiniteLossError", "fit", "load_checkpoint"]


class NonFiniteLossError(UserError, ValueError):
    """The loss became NaN or infinite; nothing was updated with it."""


@dataclass
class FitConfig:
    """Optimiser and loop settings. Defaults: the lifelong BC recipe (AdamW 1e-3 -> 1e-4 cosine, wd 1e-4,
    batch 32, clip 100)."""

    steps: int = 10000
    batch_size: int = 32
    lr: float = 1e-3
    lr_min: float = 1e-4  # cosine schedule's end
    schedule: str = "cosine"  # cosine | constant
    optimizer: str = "adamw"  # adamw | adam
    weight_decay: float = 1e-4  # adamw only
    grad_clip: float = 100.0  # max global grad norm; <= 0 disables
    seed: int = 0  # batch sampling
    ckpt_every: int = 0  # 0 = only at the end
    log_every: int = 100
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be cosine or constant, got {self.schedule!r}")
        if self.optimizer not in ("adamw", "adam"):
            raise ValueError(f"optimizer must be adamw or adam, got {self.optimizer!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _optimiser(model: nn.Module, cfg: FitConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _lr_lambda(cfg: FitConfig) -> Callable[[int], float]:
    if cfg.schedule == "constant":
        return lambda step: 1.0
    ratio = cfg.lr_min / cfg.lr
    return lambda step: ratio + (1 - ratio) * 0.5 * (1 + math.cos(math.pi * min(step, cfg.steps) / cfg.steps))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by :func:`fit` (a dict: ``step``, ``model``, ``optimizer``, ...), loaded safely
    (``weights_only=True``: tensors and plain data only)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def fit(model: nn.Module, sample: Callable[[np.random.Generator, int], Any], cfg: FitConfig, *,
        loss: Callable[[Any], Any] | None = None, ckpt_path: str | Path | None = None,
        ckpt_extra: dict[str, Any] | None = None, on_log: Callable[[int, dict[str, float]], None] | None = None,
        progress: bool = False, desc: str = "fit") -> dict[str, Any]:
    """Train ``model``; see the module docstring. ``on_log(step, means)`` gets the mean of every loss field
    over the last ``log_every`` steps and ``steps_per_s``. Resumes from ``ckpt_path`` if it exists (a finished
    checkpoint returns at once). Returns ``steps``, ``elapsed_s`` (this call's training time plus the resumed
    run's), ``first`` and ``final`` (logged means), ``resumed_from``."""
    from tqdm.auto import tqdm

    loss_fn = loss or model.loss  # type: ignore[operator]
    model.to(cfg.device)
    opt = _optimiser(model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    rng = np.random.default_rng(cfg.seed)
    step0, elapsed0 = 0, 0.0
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    path = Path(ckpt_path) if ckpt_path else None
    if path is not None and path.is_file():
        state = load_checkpoint(path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        step0, elapsed0 = int(state["step"]), float(state["elapsed_s"])
        first, last = dict(state.get("first", {})), dict(state.get("last", {}))

    def save(step: int, elapsed: float) -> None:
        if path is None:
            return
        with atomic_path(path) as tmp:
            torch.save({"step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(), "rng": rng.bit_generator.state,
                        "torch_rng": torch.get_rng_state(), "elapsed_s": elapsed, "first": first, "last": last,
                        "fit_config": cfg.to_dict(), **(ckpt_extra or {})}, tmp)

    sums: dict[str, float] = {}
    n_in_window = 0
    t0 = t_log = time.perf_counter()
    bar = tqdm(range(step0 + 1, cfg.steps + 1), desc=desc, unit="step", disable=not progress,
               initial=step0, total=cfg.steps)
    model.train()
    for step in bar:
        out = loss_fn(sample(rng, cfg.batch_size))
        total = out.total if hasattr(out, "total") else out
        fields = out._asdict() if hasattr(out, "_asdict") else {"loss": out}
        if not torch.isfinite(total):
            details = ", ".join(f"{k} {float(v.detach())}" for k, v in fields.items() if k != "total")
            where = f"last checkpoint: {path}, if any" if path is not None else "no checkpoint"
            raise NonFiniteLossError(f"step {step}: the loss is not finite ({details}); nothing was updated with "
                                     f"it ({where}); try a lower lr or grad_clip")
        opt.zero_grad(set_to_none=True)
        total.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        vals = {k: float(v.detach()) for k, v in fields.items()}
        if not first:
            first = dict(vals)
        for k, v in vals.items():
            sums[k] = sums.get(k, 0.0) + v
        n_in_window += 1
        if step % cfg.log_every == 0 or step == cfg.steps:
            now = time.perf_counter()
            last = {k: v / n_in_window for k, v in sums.items()}
            if on_log is not None:
                on_log(step, {**last, "steps_per_s": n_in_window / max(now - t_log, 1e-9)})
            bar.set_postfix({k: f"{v:.3f}" for k, v in last.items()})
            sums, n_in_window, t_log = {}, 0, now
        if cfg.ckpt_every > 0 and step % cfg.ckpt_every == 0 and step != cfg.steps:
            save(step, elapsed0 + time.perf_counter() - t0)
    bar.close()
    elapsed = elapsed0 + time.perf_counter() - t0
    if step0 < cfg.steps:
        save(cfg.steps, elapsed)
    model.eval()
    return {"steps": cfg.steps, "elapsed_s": round(elapsed, 2), "first": first, "final": last,
            "resumed_from": step0}
