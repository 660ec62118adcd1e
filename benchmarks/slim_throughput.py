#!/usr/bin/env python
"""Throughput: SLIM with 3 critics vs the plain stable-baselines3 algorithm it builds on (PPO, and SAC).

    nice -n 10 python benchmarks/slim_throughput.py            # ~5 min on an idle machine
    python benchmarks/slim_throughput.py --debug               # tiny, ~30 s (CI smoke)

What one "step" is: one env step plus one gradient step (``train_freq=1``, ``gradient_steps=1``), i.e.
``model.learn`` after ``learning_starts``, so collection, replay sampling, the update and SB3's bookkeeping
all count. Same env for every learner: ``TabletopPush-v0`` wrapped by SLIM's skill wrapper (4 discrete
skills, terms discovery/reach/safety; SAC gets the wrapper's scalar reward), same ``net_arch`` for actor
and critics, same batch (256), ``torch.set_num_threads(1)``.

Learners, per width in ``--widths`` (default 256, the SB3 and SLIM default, then 128 and 64):

Off-policy learners (SLIM's SAC form, ``base: sac``), per width:

* ``sac``: ``stable_baselines3.SAC`` (twin Q).
* ``slim``: SLIM's SAC form (``skill_rl.discovery.train.build_model``): 3 heads x twin Q in the
  ``separate`` batched ensemble (6 Q-networks, no shared parameters) **plus** the LSD φ network, which is
  updated and relabels the discovery column on every minibatch (SAC has no such network).
* ``slim_critics``: the same 3-head ensemble without the intrinsic term (its column stays 0): isolates the
  cost of the critics.
* ``slim_shared``: ``critic_layout="shared"`` (twin networks with 3 outputs each), with LSD.

On-policy pair (``--ppo``, on by default; the headline): ``ppo`` (``stable_baselines3.PPO``, one value head) vs
``slim_ppo``, the default SLIM (:class:`~skill_rl.discovery.ppo.MultiHeadPPO`: 3 value heads, per-head GAE and advantage standardisation,
plus the LSD φ network updated and relabelling once per rollout), same ``net_arch``, rollout length
(``--ppo-n-steps``), minibatch (``--batch``) and epochs (10). One chunk is one rollout plus its update.

Measurement: each learner is built and warmed up (``learning_starts`` random steps + 50 learning steps),
then the learners run in interleaved rounds (round r starts at a rotated position) of ``--chunk`` steps
each, so load from other processes on this shared machine hits them alike. steps/s per learner = median
over rounds; each ratio = median of the per-round ratios (wall-clock), and ``cpu_ratio`` the same from
process CPU time (robust against other processes, since everything runs on one thread).

Headline: ``speed_ratio_vs_sb3`` = ``slim_ppo`` / ``ppo`` at width 256: the default SLIM (``base: ppo``, one
value head per critic) against SB3's PPO. The SAC form's ratios are ``speed_ratio_vs_sb3_sac`` (``slim`` /
``sac``), ``..._sac_shared_critic`` and ``..._sac_critics_only``. Writes
``benchmarks/results/slim_throughput.json`` (``--debug``: ``$TMPDIR/slim_throughput_debug.json``), atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

RESULTS = Path(__file__).resolve().parent / "results"
LEARNERS = ("sac", "slim", "slim_critics", "slim_shared")
PPO_LEARNERS = ("ppo", "slim_ppo")


def build(name: str, width: int, batch: int, learning_starts: int, seed: int, n_steps: int = 2048):
    """One learner on its own wrapped TabletopPush env."""
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.monitor import Monitor

    from skill_rl.discovery.train import DiscoveryConfig, build_model, make_env

    base = "ppo" if name in PPO_LEARNERS else "sac"
    cfg = DiscoveryConfig(algo="slim", base=base, net_arch=[width, width], phi_hidden=[width, width], batch_size=batch,
                          learning_starts=learning_starts, buffer_size=100_000, seed=seed, n_steps=n_steps)
    env = make_env(cfg)
    if name == "ppo":
        return PPO("MlpPolicy", Monitor(env), learning_rate=cfg.learning_rate, n_steps=cfg.n_steps,
                   batch_size=batch, n_epochs=cfg.n_epochs, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda,
                   policy_kwargs={"net_arch": [width, width]}, seed=seed, device="cpu", verbose=0)
    if name == "sac":
        return SAC("MlpPolicy", Monitor(env), learning_rate=cfg.learning_rate, buffer_size=cfg.buffer_size,
                   learning_starts=learning_starts, batch_size=batch, tau=cfg.tau, gamma=cfg.gamma,
                   train_freq=1, gradient_steps=1, policy_kwargs={"net_arch": [width, width]}, seed=seed,
                   device="cpu", verbose=0)
    model = build_model(cfg, env)
    if name == "slim_critics":
        model.intrinsic_spec = {}
        model.intrinsic = th.nn.ModuleDict()
    elif name == "slim_shared":
        from skill_rl.discovery.slim import SLIM

        model = SLIM("MlpPolicy", model.env, term_names=model.term_names, intrinsic=model.intrinsic_spec,
                     critic_layout="shared", learning_rate=cfg.learning_rate, buffer_size=cfg.buffer_size,
                     learning_starts=learning_starts, batch_size=batch, tau=cfg.tau, gamma=cfg.gamma,
                     policy_kwargs={"net_arch": [width, width]}, seed=seed, device="cpu", verbose=0)
    return model


def timed_learn(model: Any, steps: int) -> tuple[float, float]:
    """(wall s, process CPU s) of ``steps`` more env+update steps."""
    w0, c0 = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=steps, reset_num_timesteps=False, log_interval=None)
    return time.perf_counter() - w0, time.process_time() - c0


def measure(learners: tuple[str, ...], width: int, args: argparse.Namespace, chunk: int, rounds: int,
            warmup_steps: int) -> dict[str, Any]:
    """Interleaved rounds of ``chunk`` steps per learner; ratios against ``learners[0]`` (the SB3 peer)."""
    base = learners[0]
    models = {n: build(n, width, args.batch, args.learning_starts, args.seed, args.ppo_n_steps) for n in learners}
    for m in models.values():
        m.learn(total_timesteps=warmup_steps, log_interval=None)
    wall: dict[str, list[float]] = {n: [] for n in learners}
    cpu: dict[str, list[float]] = {n: [] for n in learners}
    for r in range(rounds):
        order = learners[r % len(learners):] + learners[: r % len(learners)]
        for n in order:
            w, c = timed_learn(models[n], chunk)
            wall[n].append(chunk / w)
            cpu[n].append(chunk / c)
        print(f"  width {width} round {r}: " + "  ".join(f"{n} {wall[n][-1]:.1f}" for n in learners) + " steps/s",
              flush=True)
    for m in models.values():
        m.env.close()

    def ratio(a: str, table: dict[str, list[float]]) -> float:
        return round(statistics.median(x / y for x, y in zip(table[a], table[base], strict=True)), 3)

    return {
        "steps_per_s": {n: round(statistics.median(v), 2) for n, v in wall.items()},
        "cpu_steps_per_s": {n: round(statistics.median(v), 2) for n, v in cpu.items()},
        f"ratio_vs_{base}": {n: ratio(n, wall) for n in learners if n != base},
        f"cpu_ratio_vs_{base}": {n: ratio(n, cpu) for n in learners if n != base},
        "per_round_steps_per_s": {n: [round(x, 2) for x in v] for n, v in wall.items()},
    }


def measure_width(width: int, args: argparse.Namespace) -> dict[str, Any]:
    return measure(LEARNERS, width, args, args.chunk, args.rounds, args.learning_starts + args.warmup)


def measure_ppo(width: int, args: argparse.Namespace) -> dict[str, Any]:
    """One chunk = one rollout of ``ppo_n_steps`` env steps plus its update (the PPO unit of work)."""
    return measure(PPO_LEARNERS, width, args, args.ppo_n_steps, args.ppo_rounds, args.ppo_n_steps)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--widths", type=int, nargs="+", default=[256, 128, 64])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--chunk", type=int, default=30, help="env+update steps per learner per round")
    p.add_argument("--learning-starts", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ppo", action=argparse.BooleanOptionalAction, default=True,
                   help="also measure the on-policy pair (SB3 PPO vs SLIM-PPO)")
    p.add_argument("--ppo-n-steps", type=int, default=2048, help="PPO rollout length (one chunk)")
    p.add_argument("--ppo-rounds", type=int, default=7)
    p.add_argument("--debug", action="store_true", help="tiny: width 32, batch 32, 2 rounds of 20 steps")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.debug:
        args.widths, args.batch, args.rounds, args.chunk, args.learning_starts, args.warmup = [32], 32, 2, 20, 100, 10
        args.ppo_n_steps, args.ppo_rounds = 64, 2
    out = args.out or (Path(tempfile.gettempdir()) / "slim_throughput_debug.json" if args.debug
                       else RESULTS / "slim_throughput.json")
    th.set_num_threads(1)
    t0 = time.perf_counter()
    load0 = os.getloadavg()
    per_width = {}
    for w in args.widths:
        print(f"width {w}:", flush=True)
        per_width[str(w)] = measure_width(w, args)
    head = str(256 if 256 in args.widths else args.widths[0])
    ppo = None
    if args.ppo:
        print(f"on-policy pair, width {head}:", flush=True)
        ppo = measure_ppo(int(head), args)
    import stable_baselines3

    payload = {
        "benchmark": "slim_throughput",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "debug": args.debug,
        "speed_ratio_vs_sb3": ppo["ratio_vs_ppo"]["slim_ppo"] if ppo else None,
        "speed_ratio_vs_sb3_what": "default SLIM (base ppo: MultiHeadPPO, 3 value heads + LSD) / stable_baselines3.PPO",
        "speed_ratio_vs_sb3_width": int(head),
        "speed_ratio_vs_sb3_sac": per_width[head]["ratio_vs_sac"]["slim"],
        "speed_ratio_vs_sb3_sac_shared_critic": per_width[head]["ratio_vs_sac"]["slim_shared"],
        "speed_ratio_vs_sb3_sac_critics_only": per_width[head]["ratio_vs_sac"]["slim_critics"],
        "target": 0.8,
        "widths": per_width,
        "ppo": ppo,
        "settings": {"env": "TabletopPush-v0 + SkillRewardWrapper(4 discrete skills; discovery, reach, safety)",
                     "batch": args.batch, "rounds": args.rounds, "chunk": args.chunk,
                     "learning_starts": args.learning_starts, "train_freq": 1, "gradient_steps": 1,
                     "torch_threads": th.get_num_threads(), "learners": list(LEARNERS),
                     "ppo_learners": list(PPO_LEARNERS) if args.ppo else [], "ppo_n_steps": args.ppo_n_steps,
                     "ppo_rounds": args.ppo_rounds, "ppo_n_epochs": 10},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                    "torch": th.__version__, "stable_baselines3": stable_baselines3.__version__,
                    "numpy": np.__version__, "loadavg_start": [round(x, 2) for x in load0],
                    "loadavg_end": [round(x, 2) for x in os.getloadavg()]},
        "elapsed_s": round(time.perf_counter() - t0, 1),
    }
    from skill_rl.fileio import atomic_write_text

    atomic_write_text(out, json.dumps(payload, indent=2))
    print(json.dumps({k: payload[k] for k in ("speed_ratio_vs_sb3", "speed_ratio_vs_sb3_sac",
                                               "speed_ratio_vs_sb3_sac_shared_critic",
                                               "speed_ratio_vs_sb3_sac_critics_only")}))
    for w, res in per_width.items():
        print(f"width {w}: steps/s {res['steps_per_s']}  ratio {res['ratio_vs_sac']}  cpu ratio {res['cpu_ratio_vs_sac']}")
    if ppo:
        print(f"ppo width {head}: steps/s {ppo['steps_per_s']}  ratio {ppo['ratio_vs_ppo']}  cpu ratio {ppo['cpu_ratio_vs_ppo']}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
