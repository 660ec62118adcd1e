#!/usr/bin/env python
"""Play-LMP / Play-GCBC training throughput vs data-loader throughput, side by side.

    nice -n 10 python benchmarks/play_throughput.py            # ~1.5 min
    nice -n 10 python benchmarks/play_throughput.py --quick    # ~30 s
    python benchmarks/play_throughput.py --debug --out /tmp/play_throughput.json   # smoke: seconds

Question: is the loader (hindsight window sampling + gathering + tensor conversion) fast enough that it is
never the bottleneck of training? Measured, on a real play dataset (collected here by the scripted player,
or ``--dataset``), with the default model sizes of ``configs/lmp.yaml`` (window 32, min_window 16, batch 64,
hidden 256, GRU 128, logistic head with 256 bins) and ``torch.set_num_threads(1)``:

* ``loader``: ``WindowSampler.sample(64)`` + ``gather_windows`` + ``PlayBatch.from_numpy`` (windows/s).
* ``train_lmp`` / ``train_gcbc``: one full training step as ``skill_rl.play.train`` runs it (loader + forward
  + backward + clip + Adam), in windows/s (= samples/s; 64 windows per step) and steps/s.
* ``model_lmp``: the same step on one fixed pre-gathered batch (no loader): the compute-only bound.

Every measurement is set up and warmed first, then they run in interleaved rounds (rotated order) for a
fixed wall-clock budget each; reported: medians over rounds, and each ratio as the median of per-round
ratios, so that load from other processes hits both sides alike. ``loader_share_lmp`` = loader time per
batch / full step time: the fraction of a training step spent in the loader.

Writes ``benchmarks/results/play_throughput.json`` (atomically).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "osmesa")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--debug", action="store_true", help="smoke run: 400 steps of play, 1 round of 0.2 s")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--dataset", default="", help="play HDF5 (default: collect 0.03 h of play into a temp dir)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "play_throughput.json"))
    args = ap.parse_args()
    rounds = args.rounds or (1 if args.debug else 3 if args.quick else 5)
    seconds = args.seconds or (0.2 if args.debug else 1.0 if args.quick else 2.5)
    hours = 400 / (3600 * 20) if args.debug else 0.03

    import torch

    from skill_rl.fileio import atomic_write_text
    from skill_rl.play.collect import PlayCollectConfig, collect_play
    from skill_rl.play.dataset import read_play_dataset
    from skill_rl.play.models import PlayBatch
    from skill_rl.play.train import PlayTrainConfig, make_model
    from skill_rl.play.windows import WindowSampler, gather_windows

    torch.set_num_threads(1)
    tmp = tempfile.TemporaryDirectory()
    dataset = args.dataset or collect_play(PlayCollectConfig(hours_of_play=hours, run_root=tmp.name),
                                           progress=False)["dataset"]
    cfg = PlayTrainConfig()  # configs/lmp.yaml defaults
    data = read_play_dataset(dataset, load_states=False)
    obs, actions = data.flat_obs(), data.actions
    rng = np.random.default_rng(0)
    sampler = WindowSampler(data.episode_lengths, cfg.window, goal=cfg.goal, horizon=cfg.goal_horizon, rng=rng,
                            min_window=cfg.min_window)
    B = cfg.batch_size

    def load() -> PlayBatch:
        wb = gather_windows(obs, actions, sampler.sample(B))
        return PlayBatch.from_numpy(wb.obs, wb.actions, wb.goal, wb.mask)

    def make_step(algo: str, fixed: bool):
        torch.manual_seed(0)
        model = make_model(dataclasses.replace(cfg, algo=algo), data, dataset)  # what train_play builds
        model.actor.set_normaliser(obs.mean(0), obs.std(0))
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        batch0 = load()

        def step() -> None:
            batch = batch0 if fixed else load()
            out = model.loss(batch, cfg.beta)
            opt.zero_grad(set_to_none=True)
            out.total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
        return step

    fns = {"loader": load, "train_lmp": make_step("lmp", False), "train_gcbc": make_step("gcbc", False),
           "model_lmp": make_step("lmp", True)}
    for fn in fns.values():  # warm up
        for _ in range(3):
            fn()
    per_round: dict[str, list[float]] = {k: [] for k in fns}  # calls per second
    names = list(fns)
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            time.sleep(0.1)
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                fns[name]()
                n += 1
            per_round[name].append(n / (time.perf_counter() - t0))
        print(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1] * B:.0f} win/s" for k, v in per_round.items()),
              flush=True)

    med = {k: statistics.median(v) for k, v in per_round.items()}

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(per_round[a], per_round[b], strict=True))

    result = {
        "benchmark": "play_throughput", "debug": args.debug,
        "what": "windows/s of the play data loader vs full Play-LMP / Play-GCBC training steps (64 windows each)",
        "config": {"window": cfg.window, "min_window": cfg.min_window, "batch_size": B, "hidden": cfg.hidden,
                   "rnn_hidden": cfg.rnn_hidden, "latent_dim": cfg.latent_dim, "head": cfg.head,
                   "n_bins": cfg.n_bins, "nll_beta": cfg.nll_beta, "goal_keys": cfg.goal_keys,
                   "ignore_obs_keys": cfg.ignore_obs_keys, "torch_threads": torch.get_num_threads(), "rounds": rounds,
                   "seconds_per_measurement": seconds, "dataset_steps": int(obs.shape[0]),
                   "obs_dim": int(obs.shape[1])},
        "windows_per_s": {k: v * B for k, v in med.items()},
        "steps_per_s": {k: v for k, v in med.items() if k != "loader"},
        "windows_per_s_rounds": {k: [x * B for x in v] for k, v in per_round.items()},
        "ratios": {
            "loader_vs_train_lmp": ratio("loader", "train_lmp"),
            "loader_vs_train_gcbc": ratio("loader", "train_gcbc"),
            "model_only_vs_train_lmp": ratio("model_lmp", "train_lmp"),
        },
        "loader_share_lmp": statistics.median(t / lo for t, lo in zip(per_round["train_lmp"], per_round["loader"],
                                                                       strict=True)),
        "loader_share_gcbc": statistics.median(t / lo for t, lo in zip(per_round["train_gcbc"], per_round["loader"],
                                                                        strict=True)),
        "machine": {"python": sys.version.split()[0], "torch": torch.__version__, "platform": platform.platform(),
                    "cpus": os.cpu_count(), "loadavg_1m": os.getloadavg()[0]},
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    result["loader_is_bottleneck"] = bool(result["loader_share_lmp"] > 0.5 or result["loader_share_gcbc"] > 0.5)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("windows_per_s", "ratios", "loader_share_lmp", "loader_share_gcbc",
                                              "loader_is_bottleneck")}, indent=2))
    print(f"wrote {out}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
