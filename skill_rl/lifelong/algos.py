"""Lifelong-learning algorithms behind one interface (LIBERO's ``Sequential`` API, PyTorch).

Every algorithm owns a :class:`~skill_rl.lifelong.policies.TaskPolicy` and is driven by the protocol::

    algo.start_task(k, data, total_steps)   # fresh AdamW + cosine schedule for task k
    for batch in ...: algo.observe(batch)   # one gradient step (plus the algorithm's regulariser / replay)
    algo.end_task(k, data)                  # consolidate (ER memory, EWC Fisher, PackNet prune + freeze)
    with algo.evaluating(j): ...            # act for task j (PackNet applies task j's masks)

* ``seql``: sequential finetuning (lower bound; best forward transfer, forgets).
* ``er``: experience replay: keeps ``n_memories`` samples per finished task; every step adds a replay batch
  of the same size drawn from all earlier tasks (LIBERO: 1000 memories, 1:1 concatenation).
* ``ewc``: online EWC: penalty ``lambda * sum F (theta - theta*)^2`` with the diagonal empirical Fisher of
  each finished task blended ``F <- gamma F + F_new`` (LIBERO: lambda 5e4, gamma 0.9).
* ``packnet``: after each task, magnitude-prune the weights still free, keep ``keep_frac`` (25 %) of them for
  that task, zero the rest, finetune the kept ones, then freeze them. Later tasks train only free weights;
  evaluation of task j zeroes weights owned by later tasks. Biases/1-d parameters are trained on the first
  task only. Frozen weights are restored after every optimiser step, so they stay bit-identical.
* ``multitask``: trains on all tasks at once (the protocol gives it the union of the data); upper bound.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from skill_rl.imitation.history import history_index
from skill_rl.registry import Registry

from .policies import TaskPolicy

__all__ = ["ALGOS", "AlgoConfig", "Batch", "LifelongAlgo", "TaskData", "make_algo"]


class Batch(NamedTuple):
    """A training batch: obs (B, H, D) float32, actions (B, A), task_ids (B,) int64, text (B, T) float32."""

    obs: torch.Tensor
    actions: torch.Tensor
    task_ids: torch.Tensor
    text: torch.Tensor

    @staticmethod
    def cat(a: Batch, b: Batch) -> Batch:
        return Batch(*(torch.cat([x, y]) for x, y in zip(a, b, strict=True)))


@dataclass
class TaskData:
    """One task's demonstrations in the suite's common observation layout (numpy, in memory).

    ``obs`` (N, D) all steps of all demos; ``actions`` (N, A); ``hist`` (N, H) row indices of each step's
    observation history (padded at an episode's start by repeating its first frame); ``task_id``;
    ``text`` (T,) the instruction's text features. Several tasks concatenated (multitask) carry per-row
    ``row_task`` (N,) and ``row_text`` (N, T) instead (``task_id`` is then -1).
    """

    obs: np.ndarray
    actions: np.ndarray
    hist: np.ndarray
    task_id: int
    text: np.ndarray
    language: str = ""
    row_task: np.ndarray | None = None
    row_text: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    @staticmethod
    def from_episodes(obs: np.ndarray, actions: np.ndarray, episode_starts: np.ndarray, episode_ends: np.ndarray,
                      history: int, task_id: int, text: np.ndarray, language: str = "") -> TaskData:
        hist = history_index(episode_starts, episode_ends, history)
        return TaskData(obs.astype(np.float32), actions.astype(np.float32), hist, int(task_id),
                        np.asarray(text, np.float32), language)

    def subset(self, keep: np.ndarray) -> TaskData:
        """The samples ``keep`` (with the frames their histories need), e.g. for a replay memory."""
        hist = self.hist[keep]
        rows, inv = np.unique(hist, return_inverse=True)
        return TaskData(self.obs[rows], self.actions[keep], inv.reshape(hist.shape).astype(np.int64), self.task_id,
                        self.text, self.language,
                        None if self.row_task is None else self.row_task[keep],
                        None if self.row_text is None else self.row_text[keep])

    def batch(self, idx: np.ndarray, device: str = "cpu") -> Batch:
        if self.row_task is not None and self.row_text is not None:
            task_ids = torch.as_tensor(self.row_task[idx], dtype=torch.int64, device=device)
            text = torch.as_tensor(self.row_text[idx], device=device)
        else:
            task_ids = torch.full((len(idx),), self.task_id, dtype=torch.int64, device=device)
            text = torch.as_tensor(np.broadcast_to(self.text, (len(idx), self.text.shape[0])).copy(), device=device)
        return Batch(torch.as_tensor(self.obs[self.hist[idx]], device=device),
                     torch.as_tensor(self.actions[idx], device=device), task_ids, text)

    @staticmethod
    def concat(parts: list[TaskData]) -> TaskData:
        """Several tasks' data as one (multitask): history indices shifted, task id and text kept per row."""
        offsets = np.cumsum([0] + [len(p.obs) for p in parts[:-1]])
        return TaskData(np.concatenate([p.obs for p in parts]), np.concatenate([p.actions for p in parts]),
                        np.concatenate([p.hist + o for p, o in zip(parts, offsets, strict=True)]), -1,
                        parts[0].text, "; ".join(p.language for p in parts),
                        np.concatenate([np.full(len(p), p.task_id) for p in parts]),
                        np.concatenate([np.broadcast_to(p.text, (len(p), p.text.shape[0])) for p in parts]))


@dataclass
class AlgoConfig:
    """Optimiser and algorithm settings (LIBERO's defaults where they exist)."""

    lr: float = 1e-3
    lr_min: float = 1e-4  # cosine schedule end, per task
    weight_decay: float = 1e-4
    grad_clip: float = 100.0
    n_memories: int = 1000  # er: samples kept per finished task
    ewc_lambda: float = 5e4
    ewc_gamma: float = 0.9
    fisher_batches: int = 50  # ewc: batches used to estimate the Fisher
    keep_frac: float = 0.25  # packnet: fraction of the free weights kept per task
    post_prune_steps: int = 200  # packnet: finetune steps after pruning
    batch_size: int = 64
    device: str = "cpu"


ALGOS: Registry[type[LifelongAlgo]] = Registry("lifelong algorithm")


class LifelongAlgo:
    """Sequential finetuning; subclasses add replay, regularisers or masks. See the module docstring."""

    name = "seql"
    joint = False  # multitask: the protocol trains once on all tasks' data

    def __init__(self, policy: TaskPolicy, cfg: AlgoConfig | None = None, seed: int = 0) -> None:
        self.policy = policy.to((cfg or AlgoConfig()).device)
        self.cfg = cfg or AlgoConfig()
        self.rng = np.random.default_rng(seed)
        self.opt: torch.optim.Optimizer | None = None
        self.sched: Any = None
        self.current_task = -1

    # ------------------------------------------------------------------ lifecycle
    def start_task(self, task: int, data: TaskData, total_steps: int) -> None:
        """A fresh AdamW with a cosine schedule (lr -> lr_min over ``total_steps``), as LIBERO per task."""
        self.current_task = task
        self.opt = torch.optim.AdamW(self.trainable(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=max(1, total_steps),
                                                                eta_min=self.cfg.lr_min)

    def trainable(self) -> list[torch.nn.Parameter]:
        return [p for p in self.policy.parameters() if p.requires_grad]

    def loss(self, batch: Batch) -> torch.Tensor:
        return self.policy.loss(batch.obs, batch.actions, batch.task_ids, batch.text)

    def observe(self, batch: Batch) -> float:
        """One gradient step on ``batch``; returns the BC loss (without regularisers)."""
        assert self.opt is not None, "call start_task first"
        self.policy.train()
        bc = self.loss(batch)
        total = bc + self.regulariser()
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.before_step()
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.trainable(), self.cfg.grad_clip)
        self.opt.step()
        self.after_step()
        self.sched.step()
        return float(bc.detach())

    def regulariser(self) -> torch.Tensor:
        return torch.zeros((), device=self.cfg.device)

    def before_step(self) -> None:
        """Hook between backward and the optimiser step (PackNet masks gradients)."""

    def after_step(self) -> None:
        """Hook after the optimiser step (PackNet restores frozen weights)."""

    def end_task(self, task: int, data: TaskData) -> None:
        """Consolidate what was learned on ``task`` (nothing for SeqL)."""

    @contextlib.contextmanager
    def evaluating(self, task: int) -> Iterator[TaskPolicy]:
        """The policy set up to act on ``task`` (eval mode)."""
        was = self.policy.training
        self.policy.eval()
        try:
            yield self.policy
        finally:
            self.policy.train(was)

    def sample(self, data: TaskData, n: int) -> Batch:
        return data.batch(self.rng.integers(0, len(data), size=n), self.cfg.device)

    # ------------------------------------------------------------------ checkpoints
    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "extra": self.extra_state(), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.load_extra_state(state["extra"])
        self.rng.bit_generator.state = state["rng"]


ALGOS.add("seql", LifelongAlgo)


@ALGOS.register("er")
class ER(LifelongAlgo):
    """Experience replay: a memory of earlier tasks' samples, replayed 1:1 with the current batch."""

    name = "er"

    def __init__(self, policy: TaskPolicy, cfg: AlgoConfig | None = None, seed: int = 0) -> None:
        super().__init__(policy, cfg, seed)
        self.memory: list[TaskData] = []  # one subset per finished task

    def end_task(self, task: int, data: TaskData) -> None:
        keep = self.rng.choice(len(data), size=min(self.cfg.n_memories, len(data)), replace=False)
        self.memory.append(data.subset(np.sort(keep)))

    def memory_task_ids(self) -> list[int]:
        return [m.task_id for m in self.memory]

    def replay_batch(self, n: int) -> Batch | None:
        """``n`` samples drawn uniformly from the memories of all finished tasks (None before the first)."""
        if not self.memory:
            return None
        sizes = np.array([len(m) for m in self.memory])
        which = self.rng.choice(len(self.memory), size=n, p=sizes / sizes.sum())
        parts = [self.memory[k].batch(self.rng.integers(0, len(self.memory[k]), size=int((which == k).sum())),
                                      self.cfg.device) for k in np.unique(which)]
        out = parts[0]
        for p in parts[1:]:
            out = Batch.cat(out, p)
        return out

    def observe(self, batch: Batch) -> float:
        replay = self.replay_batch(batch.obs.shape[0])
        return super().observe(batch if replay is None else Batch.cat(batch, replay))

    def extra_state(self) -> dict[str, Any]:
        return {"memory": [dataclasses.asdict(m) for m in self.memory]}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.memory = [TaskData(**m) for m in state.get("memory", [])]


@ALGOS.register("ewc")
class EWC(LifelongAlgo):
    """Online EWC: a quadratic pull towards the previous tasks' parameters, weighted by their Fisher."""

    name = "ewc"

    def __init__(self, policy: TaskPolicy, cfg: AlgoConfig | None = None, seed: int = 0) -> None:
        super().__init__(policy, cfg, seed)
        self.fisher: dict[str, torch.Tensor] = {}
        self.anchor: dict[str, torch.Tensor] = {}

    def penalty(self) -> torch.Tensor:
        """``sum_i F_i (theta_i - theta*_i)^2`` (without lambda): 0 at the anchor, grows away from it."""
        total = torch.zeros((), device=self.cfg.device)
        for n, p in self.policy.named_parameters():
            if n in self.fisher:
                total = total + (self.fisher[n] * (p - self.anchor[n]) ** 2).sum()
        return total

    def regulariser(self) -> torch.Tensor:
        return self.cfg.ewc_lambda * self.penalty() if self.fisher else super().regulariser()

    def end_task(self, task: int, data: TaskData) -> None:
        """Diagonal empirical Fisher (squared batch gradients of the BC loss), blended online with gamma."""
        params = dict(self.policy.named_parameters())
        new = {n: torch.zeros_like(p) for n, p in params.items()}
        n_batches = max(1, min(self.cfg.fisher_batches, math.ceil(len(data) / self.cfg.batch_size)))
        self.policy.train()
        for _ in range(n_batches):
            self.policy.zero_grad(set_to_none=True)
            self.loss(self.sample(data, self.cfg.batch_size)).backward()
            for n, p in params.items():
                if p.grad is not None:
                    new[n] += p.grad.detach() ** 2 / n_batches
        self.policy.zero_grad(set_to_none=True)
        for n, f in new.items():
            self.fisher[n] = self.cfg.ewc_gamma * self.fisher[n] + f if n in self.fisher else f
            self.anchor[n] = params[n].detach().clone()

    def extra_state(self) -> dict[str, Any]:
        return {"fisher": self.fisher, "anchor": self.anchor}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.fisher = dict(state.get("fisher", {}))
        self.anchor = dict(state.get("anchor", {}))


@ALGOS.register("packnet")
class PackNet(LifelongAlgo):
    """PackNet: per-task binary weight masks by iterative magnitude pruning; see the module docstring."""

    name = "packnet"

    def __init__(self, policy: TaskPolicy, cfg: AlgoConfig | None = None, seed: int = 0) -> None:
        super().__init__(policy, cfg, seed)
        # owner[name]: int tensor like the weight, -1 = free, k = kept for task k (weights: dim >= 2)
        self.owner: dict[str, torch.Tensor] = {
            n: torch.full(p.shape, -1, dtype=torch.int16, device=p.device)
            for n, p in policy.named_parameters() if p.dim() >= 2}
        self.frozen_values: dict[str, torch.Tensor] = {}
        self.tasks_done = 0
        self._finetuning = False

    def _frozen_mask(self, name: str) -> torch.Tensor:
        """Weights this step must not change: other tasks' (and, while finetuning after pruning, the free ones)."""
        own = self.owner[name]
        if self._finetuning:
            return own != self.current_task
        return own >= 0

    def trainable(self) -> list[torch.nn.Parameter]:
        # 1-d parameters (biases, norms) are trained on the first task only, then frozen
        return [p for n, p in self.policy.named_parameters() if n in self.owner or self.tasks_done == 0]

    def before_step(self) -> None:
        for n, p in self.policy.named_parameters():
            if p.grad is None:
                continue
            if n in self.owner:
                p.grad[self._frozen_mask(n)] = 0.0
            elif self.tasks_done > 0:
                p.grad = None

    def after_step(self) -> None:
        """Undo weight decay / Adam drift on frozen weights: restore their saved values bit for bit."""
        with torch.no_grad():
            for n, p in self.policy.named_parameters():
                if n in self.owner:
                    if self._finetuning:
                        p[self.owner[n] < 0] = 0.0  # pruned weights stay zero
                    if self.frozen_values:
                        m = (self.owner[n] >= 0) & (self.owner[n] != self.current_task) if self._finetuning \
                            else self.owner[n] >= 0
                        p[m] = self.frozen_values[n][m]
                elif n in self.frozen_values:
                    p.copy_(self.frozen_values[n])

    def end_task(self, task: int, data: TaskData) -> None:
        """Prune the free weights to ``keep_frac`` by magnitude (per layer), finetune the kept ones, freeze."""
        with torch.no_grad():
            for n, p in self.policy.named_parameters():
                if n not in self.owner:
                    continue
                free = self.owner[n] < 0
                n_free = int(free.sum())
                if n_free == 0:
                    continue
                n_keep = max(1, int(round(self.cfg.keep_frac * n_free)))
                thresh = torch.topk(p.abs()[free], n_keep, largest=True).values.min()
                keep = free & (p.abs() >= thresh)
                self.owner[n][keep] = task
                p[free & ~keep] = 0.0
        if self.cfg.post_prune_steps > 0:  # finetune only the weights just kept for this task
            self.start_task(task, data, self.cfg.post_prune_steps)
            self._finetuning = True
            try:
                for _ in range(self.cfg.post_prune_steps):
                    self.observe(self.sample(data, self.cfg.batch_size))
            finally:
                self._finetuning = False
        self.tasks_done += 1
        self.frozen_values = {n: p.detach().clone() for n, p in self.policy.named_parameters()}

    @contextlib.contextmanager
    def evaluating(self, task: int) -> Iterator[TaskPolicy]:
        """Zero the weights owned by tasks after ``task`` (and restore them afterwards)."""
        saved: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for n, p in self.policy.named_parameters():
                if n in self.owner:
                    later = self.owner[n] > task
                    if later.any():
                        saved[n] = p.detach().clone()
                        p[later] = 0.0
        try:
            with super().evaluating(task) as pol:
                yield pol
        finally:
            with torch.no_grad():
                for n, p in self.policy.named_parameters():
                    if n in saved:
                        p.copy_(saved[n])

    def extra_state(self) -> dict[str, Any]:
        return {"owner": self.owner, "frozen_values": self.frozen_values, "tasks_done": self.tasks_done}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.owner = dict(state["owner"])
        self.frozen_values = dict(state["frozen_values"])
        self.tasks_done = int(state["tasks_done"])


@ALGOS.register("multitask")
class Multitask(LifelongAlgo):
    """Joint training on every task's data (the protocol passes their union); the upper bound."""

    name = "multitask"
    joint = True


def make_algo(name: str, policy: TaskPolicy, cfg: AlgoConfig | None = None, seed: int = 0) -> LifelongAlgo:
    """The algorithm registered as ``name`` (seql, er, ewc, packnet, multitask) around ``policy``."""
    return ALGOS.get(name)(policy, cfg, seed)
