#!/usr/bin/env python
"""Is the scripted demonstrator Markov? Held-out R² of its actions given what a policy observes.

    nice -n 15 python benchmarks/lifelong_markov.py --suite tabletop-long --label after     # ~5 min
    python benchmarks/lifelong_markov.py --debug --out /tmp/markov.json                     # seconds

A policy imitates ``action = f(observation)``; if the demonstrator's action also depends on state the
observation does not show (a phase timer, a remembered phase), no policy can fit it, and cloned policies
stall where the hidden state decides (issue 18). Per task of ``--suite``, the task's demonstrator records
``--episodes`` demos exactly as ``skill-rl lifelong demos`` does (``record_demo``: demo seeds 1,000,000 + i,
DART noise 0.1, successful episodes, trimmed), while a wrapper logs its hidden state after every action (the
plan step and the primitive's phase; for a single expert its phase). An MLP like the lifelong policy's
(2 x 256, inputs normalised with a std floor of 0.05) is fitted by MSE on the first 80 % of the episodes
and scored on the rest (held out by episode): R² = 1 - SSE / SST per action dimension, averaged over the
dimensions, for three inputs:

* ``obs``: the current observation;
* ``hist2``: the last 2 observations (the lifelong policy's default history);
* ``hist2+phase``: those plus the hidden state (one-hot of plan step x phase, and the phase's timer): the
  ceiling when nothing is hidden. The gap ``hist2+phase - hist2`` is what hidden state still explains.

Also reported: the share of ``hist2``'s held-out squared error in each hidden phase (where the unexplained
part lives), and how often a timer fallback fired (``skill_rl.envs.tabletop.experts.FALLBACKS``: a phase
switch taken because its timer ran out rather than on its observable condition; per phase and per 100 demos)
plus the demonstrator's primitive horizons reached. ``--label`` names the measurement (e.g. ``before`` /
``after`` a demonstrator change); the file keeps one entry per label, with the git commit it ran on.
Writes ``benchmarks/results/lifelong_markov.json`` (atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("MUJOCO_GL", "osmesa")

RESULTS = Path(__file__).resolve().parent / "results" / "lifelong_markov.json"
INPUTS = ("obs", "hist2", "hist2+phase")


class HiddenStateLog:
    """Wraps a demonstrator (``reset``/``act``) and logs its hidden state after every action, and whether the
    action would differ had the current phase's timer run ``bump`` steps further (``timer_sensitive``: None
    where that would reach a fallback's range, ``timer + bump >= 20``)."""

    def __init__(self, demonstrator: Any, bump: int = 3) -> None:
        self.inner = demonstrator
        self.bump = bump
        self.states: list[tuple[str, int]] = []
        self.timer_sensitive: list[tuple[str, bool | None]] = []

    def reset(self) -> None:
        self.inner.reset()
        self.states = []
        self.timer_sensitive = []

    def act(self, obs: np.ndarray) -> np.ndarray:
        phase = self.hidden()[0]
        bumped = self._bumped_action(obs)
        action = self.inner.act(obs)
        self.states.append(self.hidden())
        differs = None if bumped is None else bool(np.abs(np.asarray(bumped) - np.asarray(action)).max() > 1e-6)
        self.timer_sensitive.append((phase, differs))
        return action

    def _bumped_action(self, obs: np.ndarray) -> np.ndarray | None:
        """The action of a copy whose current phase has lasted ``bump`` steps longer (the copy's side effects on
        the fallback counter are undone)."""
        import copy

        from skill_rl.envs.tabletop import experts

        d = self.inner
        if hasattr(d, "steps"):
            if d.current is None:
                return None
            clone = copy.copy(d)
            clone.log = list(d.log)
            clone.current = copy.copy(d.current)
            motion = clone.current.motion = copy.copy(d.current.motion)
        else:
            clone = motion = copy.copy(d)
        if motion.timer + self.bump >= 20:
            return None
        motion.memory = dict(motion.memory)
        motion.timer += self.bump
        counter = getattr(experts, "FALLBACKS", None)
        saved = None if counter is None else dict(counter)
        action = clone.act(obs)
        if counter is not None:
            counter.clear()
            counter.update(saved)
        return action

    def hidden(self) -> tuple[str, int]:
        d = self.inner
        if hasattr(d, "steps"):  # ScriptedDemonstrator: plan step x the primitive's phase
            if d.current is None:
                return "hold", 0
            motion = getattr(d.current, "motion", d.current)
            return f"{d.index}:{d.steps[d.index].primitive}:{motion.phase}", int(motion.timer)
        return str(d.phase), int(d.timer)  # a single scripted expert


def record(task: Any, episodes: int, noise: float, max_steps: int) -> dict[str, Any]:
    """``episodes`` successful demos of ``task`` (as ``generate_demos`` records them) with hidden states."""
    from skill_rl.envs.tabletop import experts
    from skill_rl.lifelong.demos import DEMO_SEED_BASE, record_demo

    env = task.factory.make(max_episode_steps=max_steps)
    log = HiddenStateLog(task.factory.demonstrator(env))
    counter = getattr(experts, "FALLBACKS", None)  # absent before the demonstrators counted their fallbacks
    if counter is not None:
        counter.clear()
    eps, attempts, horizons = [], 0, 0
    while len(eps) < episodes and attempts < 3 * episodes:
        ep = record_demo(env, log, DEMO_SEED_BASE + attempts, max_steps, action_noise=noise)
        attempts += 1
        if counter is not None:  # the same change made the demonstrator log a primitive ended at its horizon
            horizons += sum("at its horizon" in line for line in getattr(log.inner, "log", []))
        if ep is not None:
            ep["hidden"] = log.states[: len(ep["actions"])]
            ep["timer_sensitive"] = log.timer_sensitive[: len(ep["actions"])]
            eps.append(ep)
    env.close()
    return {"episodes": eps, "attempts": attempts, "fallbacks": None if counter is None else dict(counter),
            "horizons": None if counter is None else horizons}


def features(eps: list[dict[str, Any]], kind: str, phases: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Inputs of ``kind`` and actions, stacked over episodes (history padded with the first frame)."""
    xs, ys = [], []
    for ep in eps:
        obs = ep["obs"].astype(np.float64)
        parts = [obs]
        if kind != "obs":
            parts.append(np.concatenate([obs[:1], obs[:-1]]))  # the previous frame
        if kind == "hist2+phase":
            onehot = np.zeros((len(obs), len(phases)))
            onehot[np.arange(len(obs)), [phases.index(p) for p, _ in ep["hidden"]]] = 1.0
            timer = np.array([[min(t, 60) / 60.0] for _, t in ep["hidden"]])
            parts += [onehot, timer]
        xs.append(np.concatenate(parts, axis=1))
        ys.append(ep["actions"].astype(np.float64))
    return np.concatenate(xs), np.concatenate(ys)


def fit_r2(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray, steps: int,
           seed: int) -> tuple[float, list[float], np.ndarray]:
    """Held-out R² (mean over action dims, and per dim) of an MLP fitted by MSE; and the test squared errors."""
    import torch

    torch.manual_seed(seed)
    mean, std = x_tr.mean(0), np.maximum(x_tr.std(0), 0.05)
    xt = torch.as_tensor((x_tr - mean) / std, dtype=torch.float32)
    yt = torch.as_tensor(y_tr, dtype=torch.float32)
    net = torch.nn.Sequential(torch.nn.Linear(x_tr.shape[1], 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                              torch.nn.ReLU(), torch.nn.Linear(256, y_tr.shape[1]))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=1e-4)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(xt), (256,), generator=gen)
        loss = torch.nn.functional.mse_loss(net(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        pred = net(torch.as_tensor((x_te - mean) / std, dtype=torch.float32)).numpy().astype(np.float64)
    sq = (pred - y_te) ** 2
    sst = ((y_te - y_te.mean(0)) ** 2).sum(0)
    per_dim = [float(1.0 - s / t) if t > 1e-12 else float("nan") for s, t in zip(sq.sum(0), sst, strict=True)]
    return float(np.nanmean(per_dim)), per_dim, sq.sum(1)


def measure_task(task: Any, episodes: int, noise: float, max_steps: int, steps: int, seed: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    rec = record(task, episodes, noise, max_steps)
    eps = rec["episodes"]
    out: dict[str, Any] = {"demos": len(eps), "attempts": rec["attempts"],
                           "samples": int(sum(len(e["actions"]) for e in eps)),
                           "fallbacks": rec["fallbacks"], "horizons_reached": rec["horizons"]}
    sens = [(p, d) for e in eps for p, d in e["timer_sensitive"] if d is not None]
    by_phase: Counter[str] = Counter(p for p, d in sens if d)
    out["timer_sensitive"] = {"steps_compared": len(sens), "differ": sum(d for _, d in sens),
                              "fraction": round(sum(d for _, d in sens) / max(len(sens), 1), 4),
                              "by_phase": dict(by_phase.most_common(6))}
    if len(eps) < 5:
        out["error"] = f"only {len(eps)} successful demos"
        return out
    n_train = int(round(0.8 * len(eps)))
    phases = sorted({p for e in eps for p, _ in e["hidden"]})
    test_phase = [p for e in eps[n_train:] for p, _ in e["hidden"]]
    out["r2"], out["r2_per_dim"] = {}, {}
    for kind in INPUTS:
        x_tr, y_tr = features(eps[:n_train], kind, phases)
        x_te, y_te = features(eps[n_train:], kind, phases)
        r2, per_dim, sq = fit_r2(x_tr, y_tr, x_te, y_te, steps, seed)
        out["r2"][kind], out["r2_per_dim"][kind] = round(r2, 4), [round(v, 4) for v in per_dim]
        if kind == "hist2":
            share: Counter[str] = Counter()
            for p, e in zip(test_phase, sq, strict=True):
                share[p] += float(e)
            total = sum(share.values()) or 1.0
            out["hist2_error_share_by_phase"] = {p: round(v / total, 3) for p, v in share.most_common(6)}
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="tabletop-long")
    p.add_argument("--n-tasks", type=int, default=0, help="the first n tasks (0 = all)")
    p.add_argument("--episodes", type=int, default=30)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--max-steps", type=int, default=600)
    p.add_argument("--fit-steps", type=int, default=3000)
    p.add_argument("--label", default="current")
    p.add_argument("--debug", action="store_true", help="2 tasks, 6 episodes, 200 fit steps")
    p.add_argument("--out", default=str(RESULTS), help="results file (one entry per suite/label)")
    args = p.parse_args()

    import torch

    from skill_rl.fileio import atomic_write_text
    from skill_rl.lifelong.suites import get_suite

    torch.set_num_threads(1)
    if args.debug:
        args.n_tasks, args.episodes, args.fit_steps = 2, 6, 200
    suite = get_suite(args.suite).subset(args.n_tasks)
    t0 = time.perf_counter()
    tasks = {}
    for task in suite.tasks:
        tasks[task.name] = measure_task(task, args.episodes, args.noise, args.max_steps, args.fit_steps, 0)
        r = tasks[task.name].get("r2", {})
        print(task.name, json.dumps(r), tasks[task.name]["timer_sensitive"]["fraction"], tasks[task.name]["fallbacks"],
              flush=True)
    done = [t for t in tasks.values() if "r2" in t]
    demos = sum(t["demos"] for t in tasks.values())
    fallbacks: Counter[str] = Counter()
    for t in tasks.values():
        fallbacks.update(t["fallbacks"] or {})
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                                cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    entry = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "git_commit": commit,
             "suite": args.suite, "episodes_per_task": args.episodes, "noise": args.noise,
             "fit_steps": args.fit_steps, "debug": args.debug,
             "mean_r2": {k: round(float(np.mean([t["r2"][k] for t in done])), 4) for k in INPUTS} if done else {},
             "timer_sensitive_fraction": round(sum(t["timer_sensitive"]["differ"] for t in tasks.values()) /
                                               max(sum(t["timer_sensitive"]["steps_compared"] for t in tasks.values()),
                                                   1), 4),
             "fallbacks_total": dict(fallbacks),
             "fallbacks_per_100_demos": {k: round(100 * v / max(demos, 1), 2) for k, v in fallbacks.items()},
             "horizons_reached": None if any(t["horizons_reached"] is None for t in tasks.values())
             else sum(t["horizons_reached"] for t in tasks.values()),
             "demos": demos, "tasks": tasks, "wall_s": round(time.perf_counter() - t0, 1)}
    path = Path(args.out)
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"benchmark": "lifelong_markov"}
    data.setdefault("entries", {})[f"{args.suite}/{args.label}"] = entry
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    print(json.dumps({k: entry[k] for k in ("mean_r2", "timer_sensitive_fraction", "fallbacks_per_100_demos",
                                            "horizons_reached")}))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
