#!/usr/bin/env python
"""Why does Play-LMP's KL rise, and does the plan proposal deliver the plan at test time? A β diagnostic.

    nice -n 10 python benchmarks/diagnostics/play_beta.py --dataset <play.hdf5> --betas 0.001 0.01 0.1 --steps 400
    nice -n 10 python benchmarks/diagnostics/play_beta.py --dataset <play.hdf5> --checkpoints runs/*/ckpt/last.pt

For Play-LMP trained at each β (same data, steps, seed; or given trainer checkpoints), on 20 batches of 64
hindsight-relabelled windows of the play file, it reports (nats, action NLL per step summed over action dims):

* ``nll_posterior``: actions under π(a | s, s_g, z) with z = the *recognition* mean Φ(τ) (training-time plan);
* ``nll_prior``: the same with z = the *proposal* mean Ψ(s_0, s_g) (what runs at test time);
* ``kl``: KL(Φ || Ψ); ``prior_gap`` = nll_prior - nll_posterior: plan information the proposal fails to give.
* ``nll_gcbc``: Play-GCBC's NLL, same data and budget (``--gcbc``), the no-latent reference.

A large KL with a small prior gap means the plans are informative *and* predictable (healthy); a large
prior gap means test-time Play-LMP acts on plans worse than the training-time ones. Writes
``benchmarks/results/play_beta.json`` (atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "osmesa")


def diagnose(ckpt_path: str, obs: np.ndarray, actions: np.ndarray, sampler, batches: int = 20) -> dict[str, float]:
    """NLL under recognition-mean and proposal-mean plans, and KL, for one trainer checkpoint."""
    import torch
    from torch.distributions import kl_divergence

    from skill_rl.play.models import ActorConfig, PlayBatch, PlayGCBC, PlayLMP, _masked_nll
    from skill_rl.play.train import load_checkpoint
    from skill_rl.play.windows import gather_windows

    ck = load_checkpoint(ckpt_path)
    cfg = ActorConfig(**ck["actor_config"])
    lmp = cfg.latent_dim > 0
    rnn = ck["model"]["recognition.rnn.weight_hh_l0"].shape[1] if lmp else 0
    model = PlayLMP(cfg, rnn) if lmp else PlayGCBC(cfg)
    model.load_state_dict(ck["model"])
    model.eval()
    sums: dict[str, float] = {}
    with torch.no_grad():
        for _ in range(batches):
            wb = gather_windows(obs, actions, sampler.sample(64))
            b = PlayBatch.from_numpy(wb.obs, wb.actions, wb.goal, wb.mask)
            o, g = model.actor.normalise(b.obs), model.actor.normalise(b.goal)
            T = o.shape[1]
            gg = g.unsqueeze(1).expand(-1, T, -1)
            vals = {}
            if lmp:
                q = model.recognition(o, b.actions, b.mask)
                p = model.actor.proposal(o[:, 0], g)
                for key, z in (("nll_posterior", q.mean), ("nll_prior", p.mean)):
                    params = model.actor.policy(o, gg, z.unsqueeze(1).expand(-1, T, -1))
                    vals[key] = _masked_nll(model.actor.policy.log_prob(params, b.actions), b.mask).item()
                vals["kl"] = kl_divergence(q, p).mean().item()
            else:
                params = model.actor.policy(o, gg, None)
                vals["nll_gcbc"] = _masked_nll(model.actor.policy.log_prob(params, b.actions), b.mask).item()
            for k, v in vals.items():
                sums[k] = sums.get(k, 0.0) + v / batches
    if lmp:
        sums["prior_gap"] = sums["nll_prior"] - sums["nll_posterior"]
    return sums


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--betas", type=float, nargs="*", default=[])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gcbc", action="store_true", help="also train Play-GCBC at the same budget")
    ap.add_argument("--checkpoints", nargs="*", default=[], help="trainer checkpoints (ckpt/last.pt) to diagnose")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "results" / "play_beta.json"))
    args = ap.parse_args()

    import torch

    from skill_rl.fileio import atomic_write_text
    from skill_rl.play.dataset import read_play_dataset
    from skill_rl.play.train import PlayTrainConfig, train_play
    from skill_rl.play.windows import WindowSampler

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    data = read_play_dataset(args.dataset, load_states=False)
    obs, actions = data.flat_obs(), data.actions
    cfg0 = PlayTrainConfig()
    tmp = tempfile.TemporaryDirectory()
    runs: dict[str, dict] = {}
    todo = [(f"lmp_beta{b:g}", "lmp", b) for b in args.betas] + ([("gcbc", "gcbc", 0.0)] if args.gcbc else [])
    for label, algo, beta in todo:
        s = train_play(PlayTrainConfig(algo=algo, dataset=args.dataset, beta=beta, steps=args.steps, seed=args.seed,
                                       threads=1, progress=False, log_every=max(args.steps // 10, 1),
                                       ckpt_every=args.steps, run_root=tmp.name, run_name=label))
        runs[label] = {"checkpoint": s["checkpoint"], "beta": beta, "steps": args.steps, "train_wall_s": s["elapsed_s"],
                       "train_first": s["first"], "train_final": s["final"]}
        print(f"{label}: {s['elapsed_s']:.0f} s, train nll {s['final']['nll']:.2f} kl {s['final']['kl']:.2f}", flush=True)
    for ck in args.checkpoints:
        runs[str(Path(ck).parent.parent.name)] = {"checkpoint": ck}
    for label, r in runs.items():
        sampler = WindowSampler(data.episode_lengths, cfg0.window, rng=np.random.default_rng(123),
                                min_window=cfg0.min_window)
        r["diagnostic"] = diagnose(r["checkpoint"], obs, actions, sampler)
        print(label, {k: round(v, 3) for k, v in r["diagnostic"].items()}, flush=True)
    result = {"benchmark": "play_beta", "dataset": args.dataset, "dataset_steps": int(obs.shape[0]),
              "windows": "20 batches x 64, window 16-32, goal = last frame (same file as training)",
              "runs": {k: {kk: vv for kk, vv in v.items() if kk != "checkpoint"} for k, v in runs.items()},
              "python": sys.version.split()[0], "torch": torch.__version__, "wall_s": round(time.perf_counter() - t0, 1),
              "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_text(Path(args.out), json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
