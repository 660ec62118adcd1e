#!/usr/bin/env python
"""Throughput: SLIM-PPO's training loop against the world's speed (env-only) and against SB3's PPO, in one run.

    nice -n 5 python benchmarks/slim_throughput.py                 # ~10 min on the shared 2-core machine
    python benchmarks/slim_throughput.py --debug                   # tiny, ~30 s (CI smoke)
    nice -n 10 python benchmarks/slim_throughput.py --sac --widths 256 --out benchmarks/results/slim_throughput_sac.json

Learners, measured side by side in interleaved rounds in this process (round r starts at a rotated position, so
load from other processes on this shared machine hits them alike):

* ``env``: ONE env, stepped with uniformly random actions (drawn beforehand), nothing else: the world's speed.
  It is the env the learners train in (``TabletopPush-v0`` with the discovery options: 50-step episodes, and
  ``reward_type: sparse``, since discovery never reads the tabletop's own dense reward).
* ``env_default``: the same with ``envs.make``'s default (dense) reward, for reference.
* ``sb3_ppo``: ``stable_baselines3.PPO`` on the same vector env (``SkillVecEnv`` with ``--n-envs`` sub-envs and
  SLIM's skill wrapper; PPO learns from the wrapper's scalar reward), same ``net_arch``, rollout, minibatch, epochs.
* ``slim_ppo``: the default SLIM (``skill_rl.discovery``: ``MultiHeadPPO`` with 3 value heads, per-head GAE and
  advantage standardisation, the LSD φ network updated and relabelling once per rollout) on the same vector env,
  with ``run_discovery``'s callback (episode and loss logs, checkpoints): the whole training loop.
* ``slim_ppo_1env`` (``--before``, on by default): the same SLIM stepping one env with batch-1 inference and the
  former settings (10 epochs, minibatch 256): where the issue measured 0.47 of the env.

One PPO chunk is one rollout of ``--ppo-n-steps`` env steps plus its update (the PPO unit of work); one ``env``
chunk the same number of env steps. steps/s per learner = median over rounds; each ratio = median of the
per-round ratios (wall-clock), ``cpu_ratio`` the same from process CPU time (everything runs on one thread).

Headlines: ``train_steps_per_s_ratio_vs_env`` = ``slim_ppo`` / ``env`` (target >= 0.8) and
``speed_ratio_vs_sb3`` = ``slim_ppo`` / ``sb3_ppo`` (target >= 0.9). ``--sac`` adds the off-policy form's
comparison (SLIM's SAC form vs SB3 SAC per width, one env and one gradient step per step), as before.
Writes ``benchmarks/results/slim_throughput.json`` (``--debug``: ``$TMPDIR/slim_throughput_debug.json``), atomically.
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
PPO_LEARNERS = ("env", "env_default", "sb3_ppo", "slim_ppo", "slim_ppo_1env")


def build(name: str, width: int, batch: int, learning_starts: int, seed: int, n_steps: int = 2048):
    """One off-policy learner (``--sac``) on its own wrapped TabletopPush env, one env and one update per step."""
    from stable_baselines3 import SAC
    from stable_baselines3.common.monitor import Monitor

    from skill_rl.discovery.train import DiscoveryConfig, build_model, make_env

    cfg = DiscoveryConfig(algo="slim", base="sac", net_arch=[width, width], phi_hidden=[width, width], batch_size=batch,
                          learning_starts=learning_starts, buffer_size=100_000, seed=seed, device="cpu",
                          env_options={"max_episode_steps": 50})
    env = make_env(cfg)
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


def ppo_config(args: argparse.Namespace, **kw: Any):
    """The discovery config every PPO learner shares (``kw`` overrides, e.g. the one-env former settings)."""
    from skill_rl.discovery.train import DiscoveryConfig

    base = dict(algo="slim", base="ppo", net_arch=[args.width] * 2, phi_hidden=[args.width] * 2, batch_size=args.batch,
                n_steps=args.ppo_n_steps, n_epochs=args.n_epochs, n_envs=args.n_envs, seed=args.seed, device="cpu",
                env_options={"max_episode_steps": 50})
    return DiscoveryConfig(**{**base, **kw})


class EnvOnly:
    """The world alone: one env stepped with pre-drawn uniform random actions, reset at the end of an episode."""

    def __init__(self, env_options: dict[str, Any], seed: int) -> None:
        from skill_rl import envs

        self.env = envs.make("TabletopPush-v0", **env_options)
        self.env.reset(seed=seed)
        self.actions = np.random.default_rng(seed).uniform(-1, 1, (4096, 7)).astype(np.float32)
        self.i = 0

    def learn(self, total_timesteps: int, **_: Any) -> None:
        env, acts = self.env, self.actions
        for _ in range(total_timesteps):
            _, _, term, trunc, _ = env.step(acts[self.i % len(acts)])
            self.i += 1
            if term or trunc:
                env.reset()

    def close(self) -> None:
        self.env.close()


def build_ppo(name: str, args: argparse.Namespace):
    """One on-policy learner (or the env alone) with ``learn(total_timesteps)`` and ``close()``."""
    from stable_baselines3 import PPO

    from skill_rl.discovery.train import build_model, make_train_env

    if name == "env":
        from skill_rl.discovery.env import make_discovery_env

        opts = dict(make_discovery_env("TabletopPush-v0", 1, True, ["discovery"],
                                       env_options={"max_episode_steps": 50}).unwrapped.config.__dict__)
        return EnvOnly({"max_episode_steps": 50, "reward_type": opts["reward_type"]}, args.seed)
    if name == "env_default":
        return EnvOnly({"max_episode_steps": 50}, args.seed)
    if name == "slim_ppo_1env":
        cfg = ppo_config(args, n_envs=1, n_steps=min(2048, args.ppo_n_steps), n_epochs=10, batch_size=min(256, args.batch))
    else:
        cfg = ppo_config(args)
    env = make_train_env(cfg)
    if name == "sb3_ppo":
        model = PPO("MlpPolicy", env, learning_rate=cfg.learning_rate, n_steps=cfg.n_steps // env.num_envs,
                    batch_size=cfg.batch_size, n_epochs=cfg.n_epochs, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda,
                    policy_kwargs={"net_arch": list(cfg.net_arch)}, seed=cfg.seed, device="cpu", verbose=0)
    else:
        th.manual_seed(cfg.seed)
        model = Trained(build_model(cfg, env), cfg)
    model.close = env.close  # type: ignore[attr-defined]
    return model


class Trained:
    """A SLIM model learning with ``run_discovery``'s own callback (progress, episode and training logs,
    checkpoints every ``checkpoint_every`` steps into a temporary run folder): the whole training loop."""

    def __init__(self, model: Any, cfg: Any) -> None:
        from collections import deque

        from tqdm.auto import tqdm

        from skill_rl.discovery.train import _callback
        from skill_rl.runs import start_run

        self.model, self.env = model, model.env
        self.tmp = tempfile.TemporaryDirectory(prefix="slim_throughput_")
        self.run = start_run(self.tmp.name, "bench", cfg)
        recent: dict[str, deque] = {}
        self.callback = _callback(self.run, cfg, tqdm(disable=True), recent)

    def learn(self, total_timesteps: int, **kw: Any) -> None:
        kw.pop("reset_num_timesteps", None)
        self.model.learn(total_timesteps=total_timesteps, callback=self.callback, reset_num_timesteps=False, **kw)


def timed_learn(model: Any, steps: int) -> tuple[float, float]:
    """(wall s, process CPU s) of ``steps`` more env(+update) steps."""
    w0, c0 = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=steps, reset_num_timesteps=False, log_interval=None)
    return time.perf_counter() - w0, time.process_time() - c0


def interleave(models: dict[str, Any], chunk: int, rounds: int, base: str, label: str) -> dict[str, Any]:
    """Interleaved rounds of ``chunk`` steps per learner; ratios of every learner against ``base`` (and, when
    measured, of the learners against ``env``)."""
    names = tuple(models)
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    loads = []
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for n in order:
            w, c = timed_learn(models[n], chunk)
            wall[n].append(chunk / w)
            cpu[n].append(chunk / c)
        loads.append(os.getloadavg()[0])
        print(f"  {label} round {r} (load {loads[-1]:.1f}): " + "  ".join(f"{n} {wall[n][-1]:.1f}" for n in names)
              + " steps/s", flush=True)
    for m in models.values():
        m.close() if hasattr(m, "close") else m.env.close()

    def ratio(a: str, b: str, table: dict[str, list[float]]) -> float:
        return round(statistics.median(x / y for x, y in zip(table[a], table[b], strict=True)), 3)

    out = {
        "steps_per_s": {n: round(statistics.median(v), 2) for n, v in wall.items()},
        "cpu_steps_per_s": {n: round(statistics.median(v), 2) for n, v in cpu.items()},
        f"ratio_vs_{base}": {n: ratio(n, base, wall) for n in names if n != base},
        f"cpu_ratio_vs_{base}": {n: ratio(n, base, cpu) for n in names if n != base},
        "per_round_steps_per_s": {n: [round(x, 2) for x in v] for n, v in wall.items()},
        "loadavg_1min_per_round": [round(x, 2) for x in loads],
    }
    if "env" in names and base != "env":
        out["ratio_vs_env"] = {n: ratio(n, "env", wall) for n in names if n != "env"}
        out["cpu_ratio_vs_env"] = {n: ratio(n, "env", cpu) for n in names if n != "env"}
    return out


def measure_width(width: int, args: argparse.Namespace) -> dict[str, Any]:
    models = {n: build(n, width, args.batch_sac, args.learning_starts, args.seed) for n in LEARNERS}
    for m in models.values():
        m.learn(total_timesteps=args.learning_starts + args.warmup, log_interval=None)
    return interleave(models, args.chunk, args.rounds, "sac", f"width {width}")


def measure_ppo(args: argparse.Namespace) -> dict[str, Any]:
    """One chunk = one rollout of ``ppo_n_steps`` env steps plus its update (the PPO unit of work)."""
    names = [n for n in PPO_LEARNERS if args.before or n != "slim_ppo_1env"]
    models = {n: build_ppo(n, args) for n in names}
    for m in models.values():  # warm-up: one rollout and update each
        m.learn(total_timesteps=args.ppo_n_steps)
    return interleave(models, args.ppo_n_steps, args.ppo_rounds, "sb3_ppo", "ppo")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-envs", type=int, default=32, help="sub-envs stepped together (SB3 PPO and SLIM-PPO)")
    p.add_argument("--ppo-n-steps", type=int, default=4096, help="PPO rollout length over all envs (one chunk)")
    p.add_argument("--n-epochs", type=int, default=3, help="PPO epochs per rollout")
    p.add_argument("--batch", type=int, default=1024, help="PPO minibatch")
    p.add_argument("--width", type=int, default=256, help="hidden width (2 layers) of actor, critics and φ")
    p.add_argument("--ppo-rounds", type=int, default=7)
    p.add_argument("--before", action=argparse.BooleanOptionalAction, default=True,
                   help="also measure SLIM-PPO on one env with the former settings (slim_ppo_1env)")
    p.add_argument("--sac", action="store_true", help="also measure the off-policy form (SLIM-SAC vs SB3 SAC)")
    p.add_argument("--widths", type=int, nargs="+", default=[256, 128, 64], help="--sac: widths")
    p.add_argument("--batch-sac", type=int, default=256)
    p.add_argument("--rounds", type=int, default=15, help="--sac: rounds")
    p.add_argument("--chunk", type=int, default=30, help="--sac: env+update steps per learner per round")
    p.add_argument("--learning-starts", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--debug", action="store_true", help="tiny: width 32, 2 rounds of small chunks")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.debug:
        args.widths, args.batch_sac, args.rounds, args.chunk, args.learning_starts, args.warmup = [32], 32, 2, 20, 100, 10
        args.ppo_n_steps, args.ppo_rounds, args.width, args.batch, args.n_envs = 64, 2, 32, 32, 4
    out = args.out or (Path(tempfile.gettempdir()) / "slim_throughput_debug.json" if args.debug
                       else RESULTS / "slim_throughput.json")
    th.set_num_threads(1)
    t0 = time.perf_counter()
    load0 = os.getloadavg()
    print(f"on-policy: env alone, SB3 PPO and SLIM-PPO on {args.n_envs} envs (load {load0[0]:.1f}):", flush=True)
    ppo = measure_ppo(args)
    per_width = {}
    if args.sac:
        for w in args.widths:
            print(f"width {w}:", flush=True)
            per_width[str(w)] = measure_width(w, args)
    head = str(256 if 256 in args.widths else args.widths[0])
    import stable_baselines3

    payload: dict[str, Any] = {
        "benchmark": "slim_throughput",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "debug": args.debug,
        "train_steps_per_s_ratio_vs_env": ppo["ratio_vs_env"]["slim_ppo"],
        "train_steps_per_s_ratio_vs_env_what": ("SLIM-PPO training env steps/s (vector collector) / one env stepped "
                                                "alone with random actions, same env options, same process and rounds"),
        "train_steps_per_s_ratio_vs_env_target": 0.8,
        "speed_ratio_vs_sb3": ppo["ratio_vs_sb3_ppo"]["slim_ppo"],
        "speed_ratio_vs_sb3_what": "SLIM-PPO / stable_baselines3.PPO, both on the same vector env and settings",
        "speed_ratio_vs_sb3_target": 0.9,
        "train_steps_per_s_ratio_vs_env_before": ppo["ratio_vs_env"].get("slim_ppo_1env"),
        "ppo": ppo,
        "settings": {"env": "TabletopPush-v0 (50-step episodes) + SkillRewardWrapper(4 discrete skills; discovery, "
                            "reach, safety)", "n_envs": args.n_envs, "ppo_n_steps": args.ppo_n_steps,
                     "n_epochs": args.n_epochs, "minibatch": args.batch, "width": args.width,
                     "ppo_rounds": args.ppo_rounds, "torch_threads": th.get_num_threads(),
                     "ppo_learners": list(ppo["steps_per_s"]),
                     "slim_ppo_1env": "n_envs 1, rollout 2048, n_epochs 10, minibatch 256 (the settings before the vector collector)"},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                    "torch": th.__version__, "stable_baselines3": stable_baselines3.__version__,
                    "numpy": np.__version__, "loadavg_start": [round(x, 2) for x in load0],
                    "loadavg_end": [round(x, 2) for x in os.getloadavg()]},
    }
    if args.sac:
        payload.update({
            "speed_ratio_vs_sb3_sac": per_width[head]["ratio_vs_sac"]["slim"],
            "speed_ratio_vs_sb3_sac_shared_critic": per_width[head]["ratio_vs_sac"]["slim_shared"],
            "speed_ratio_vs_sb3_sac_critics_only": per_width[head]["ratio_vs_sac"]["slim_critics"],
            "widths": per_width,
            "sac_settings": {"batch": args.batch_sac, "rounds": args.rounds, "chunk": args.chunk,
                             "learning_starts": args.learning_starts, "train_freq": 1, "gradient_steps": 1,
                             "learners": list(LEARNERS)}})
    payload["elapsed_s"] = round(time.perf_counter() - t0, 1)
    from skill_rl.fileio import atomic_write_text

    atomic_write_text(out, json.dumps(payload, indent=2))
    print(json.dumps({k: payload[k] for k in ("train_steps_per_s_ratio_vs_env", "speed_ratio_vs_sb3",
                                               "train_steps_per_s_ratio_vs_env_before")}))
    print(f"ppo: steps/s {ppo['steps_per_s']}\n  ratio vs env {ppo['ratio_vs_env']}  cpu {ppo['cpu_ratio_vs_env']}\n"
          f"  ratio vs sb3 {ppo['ratio_vs_sb3_ppo']}  cpu {ppo['cpu_ratio_vs_sb3_ppo']}")
    for w, res in per_width.items():
        print(f"width {w}: steps/s {res['steps_per_s']}  ratio {res['ratio_vs_sac']}  cpu ratio {res['cpu_ratio_vs_sac']}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
