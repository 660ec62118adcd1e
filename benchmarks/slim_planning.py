#!/usr/bin/env python
"""Planning over discovered skills: push the cube to goals on the table by MPC with CEM over (z, duration) and a
learned skill dynamics model, for SLIM and every baseline's skills (the paper's downstream claim).

    nice -n 19 python benchmarks/slim_planning.py --root runs/slim_short     # runs of slim_scale.py
    python benchmarks/slim_planning.py --debug                                       # tiny, ~1 min (CI smoke)

For every method and seed, the run in ``<root>/<method>_s<seed>/run-*`` (``benchmarks/slim_scale.py``'s
layout; its latest ``skill_policy.pt``, finished or not, labelled with the env steps it was trained for) is
exported into a skill library (``skill_rl.discovery.export.export_run``, kind ``slim``, one entry per z) and
used from there only (:class:`~skill_rl.planning.skill_cem.DiscoveredSkills`):

1. data: ``--model-steps`` env steps of random skills (random z, random duration in ``--durations``) run back
   to back in ``TabletopPush-v0`` from seeded starts (seeds disjoint from the goals');
2. the skill dynamics model (start features, z, d) -> cube xy is fitted on it (held-out error reported, with
   the error of "the cube stays where it is");
3. ``--goals`` goal episodes (seeds 50000+): a goal is drawn in TabletopPush's goal area 8-20 cm from the cube's
   start; MPC plans (z, d) by CEM on the model, runs the library skill, observes and plans again, up to
   ``--segments`` skills; success = the cube's centre within 5 cm of the goal.

``<method>_goal_success`` = mean over seeds of the per-seed success rate (std over seeds beside it).
``reference_scripted_push_directions_goal_success``: the same data, model and MPC over scripted pushes in 4
directions (``--reference``, not discovered skills): what the planning machinery reaches with skills that push. Writes
``benchmarks/results/slim_planning.json`` (``--debug``: ``$TMPDIR/slim_planning_debug.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from skill_rl.fileio import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("slim", "naive_sum", "lsd", "metra", "diayn")


def latest_run(root: Path, method: str, seed: int) -> Path | None:
    runs = sorted(p for p in (root / f"{method}_s{seed}").glob("run-*") if (p / "skill_policy.pt").is_file())
    return runs[-1] if runs else None


def trained_steps(run: Path) -> int:
    summary = run / "summary.json"
    return int(json.loads(summary.read_text())["num_timesteps"]) if summary.is_file() else -1


def evaluate_run(run: Path, args: argparse.Namespace, library: Any, seed: int) -> dict[str, Any]:
    """Export the run's skills into ``library`` and evaluate them from there."""
    from skill_rl.discovery.export import export_run
    from skill_rl.planning.skill_cem import DiscoveredSkills

    export_run(run, library, prefix=f"{run.parent.name}_{run.name}")
    skills = DiscoveredSkills.from_library(library, run_dir=str(run.resolve()))
    return {"run_dir": str(run), "trained_env_steps": trained_steps(run), **evaluate_skills(skills, args, seed)}


class PushDirections:
    """Reference skills, not discovered: the catalog's scripted ``push`` of the cube 30 cm along one of 4
    directions (z = a one-hot over +x, -x, +y, -y), cut after d steps: what ideal discovered push skills would
    be. The same model, data and MPC run over them, so their success is what the planning machinery reaches
    when the skills can push."""

    discrete, z_dim, horizon, label = True, 4, 50, "scripted push, 4 directions"
    DIRS = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])

    @property
    def choices(self) -> np.ndarray:
        return np.eye(4, dtype=np.float32)

    def load(self, env: Any, z: Any, duration: int) -> Any:
        from skill_rl.library.catalog import make_scripted
        from skill_rl.planning.skill_cem import TABLE_HALF_XY

        cube = env.unwrapped.body_pos("cube")[:2]
        target = cube + 0.3 * self.DIRS[int(np.argmax(z))]
        target = np.clip(target, -np.array(TABLE_HALF_XY) + 0.05, np.array(TABLE_HALF_XY) - 0.05)
        skill = make_scripted(env, "push", obj="cube", target_xy=[float(v) for v in target])
        skill.reset()
        return skill


def evaluate_skills(skills: Any, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """Fit the model on these skills' random segments, then the goal episodes (shared by runs and references)."""
    import torch as th

    from skill_rl import envs
    from skill_rl.planning.skill_cem import CEMConfig, fit_for_skills, reach_goal, sample_goal

    th.set_num_threads(1)
    env = envs.make("TabletopPush-v0", max_episode_steps=100_000, reward_type="sparse")
    t0 = time.perf_counter()
    try:
        model = fit_for_skills(env, skills, args.model_steps, seed=1000 + seed, durations=tuple(args.durations),
                               epochs=args.epochs)
        t_fit = time.perf_counter() - t0
        rng = np.random.default_rng(seed)
        cem = CEMConfig(samples=args.samples, elites=args.elites, iterations=args.iterations,
                        durations=tuple(args.durations))
        episodes = []
        layout = env.unwrapped.obs_layout
        for g in range(args.goals):
            obs, _ = env.reset(seed=50_000 + g)
            goal = sample_goal(np.random.default_rng(50_000 + g), obs[layout["cube_pos"]])
            episodes.append(reach_goal(env, skills, model, goal, seed=50_000 + g, rng=rng, obs=obs,
                                       max_segments=args.segments, cem=cem))
    finally:
        env.close()
    errs = [e for ep in episodes for e in ep.predicted_errors]
    return {"skills": skills.label, "n_skills": len(skills.choices), "discrete": skills.discrete,
            "model": model.report, "fit_s": round(t_fit, 1),
            "success_rate": float(np.mean([ep.success for ep in episodes])),
            "final_distance_m": float(np.mean([ep.final_distance for ep in episodes])),
            "start_distance_m": float(np.mean([ep.start_distance for ep in episodes])),
            "closer_than_start": float(np.mean([ep.final_distance < ep.start_distance for ep in episodes])),
            "mean_segments": float(np.mean([ep.segments for ep in episodes])),
            "mean_env_steps": float(np.mean([ep.steps for ep in episodes])),
            "mpc_prediction_error_m": float(np.mean(errs)) if errs else float("nan"),
            "wall_s": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=Path("runs/slim_short"),
                   help="run folders in benchmarks/slim_scale.py's layout (<method>_s<seed>/run-*)")
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--goals", type=int, default=50)
    p.add_argument("--segments", type=int, default=8, help="skills run per goal episode at most")
    p.add_argument("--durations", type=int, nargs=2, default=[5, 40], help="shortest and longest skill run (steps)")
    p.add_argument("--model-steps", type=int, default=8000, help="env steps of random skills to fit the model on")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--samples", type=int, default=128)
    p.add_argument("--elites", type=int, default=12)
    p.add_argument("--iterations", type=int, default=4)
    p.add_argument("--library", type=Path, default=None, help="skill library to export into (default: a temp one)")
    p.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True,
                   help="also plan over scripted push skills in 4 directions (the machinery's reference)")
    p.add_argument("--label", default="", help="what the runs are (budget, settings), stored in the results")
    p.add_argument("--debug", action="store_true", help="tiny: trains two debug runs, 3 goals")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    out = args.out or (Path(tempfile.gettempdir()) / "slim_planning_debug.json" if args.debug
                       else RESULTS / "slim_planning.json")
    from skill_rl.library import SkillLibrary

    tmp = tempfile.TemporaryDirectory(prefix="slim_planning_")
    if args.debug:
        from skill_rl.discovery.train import DiscoveryConfig, run_discovery

        args.root = Path(tmp.name) / "runs"
        args.methods, args.seeds, args.goals, args.segments, args.model_steps, args.epochs = ["slim", "lsd"], [0], 3, 2, 300, 20
        args.samples, args.elites, args.iterations, args.durations = 16, 4, 2, [3, 12]
        for m in args.methods:
            run_discovery(DiscoveryConfig(algo=m, debug=True, video=False, device="cpu",
                                          run_root=str(args.root / f"{m}_s0"), run_name="run"), progress=False)
        args.label = "debug runs (300 env steps)"
    library = SkillLibrary(args.library or Path(tmp.name) / "library")
    t0 = time.perf_counter()
    load0 = os.getloadavg()
    per_method: dict[str, list[dict[str, Any]]] = {}
    for m in args.methods:
        for s in args.seeds:
            run = latest_run(args.root, m, s)
            if run is None:
                print(f"{m} seed {s}: no run with a skill_policy.pt under {args.root}", flush=True)
                continue
            r = evaluate_run(run, args, library, s)
            r["seed"] = s
            per_method.setdefault(m, []).append(r)
            print(f"{m} seed {s} ({r['trained_env_steps']} env steps): success {r['success_rate']:.2f}, final distance "
                  f"{r['final_distance_m']:.3f} m (start {r['start_distance_m']:.3f}), model held-out error "
                  f"{r['model']['heldout_error_m']:.4f} m vs stay-put {r['model']['stay_put_error_m']:.4f} m "
                  f"({r['wall_s']:.0f} s)", flush=True)
    payload: dict[str, Any] = {
        "benchmark": "slim_planning", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "debug": args.debug, "runs_label": args.label, "root": str(args.root),
        "task": "TabletopPush-v0: push the cube to a goal 8-20 cm from its start, inside x in [-0.15, 0.15], "
                "y in [-0.2, 0.2]; success = cube centre within 0.05 m of the goal",
        "settings": {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in vars(args).items()
                     if k in ("goals", "segments", "durations", "model_steps", "epochs", "samples", "elites",
                              "iterations", "seeds")},
    }
    for m, rs in per_method.items():
        rates = [r["success_rate"] for r in rs]
        payload[f"{m}_goal_success"] = statistics.fmean(rates)
        payload[f"{m}_goal_success_std"] = statistics.stdev(rates) if len(rates) > 1 else 0.0
        payload[f"{m}_seeds"] = len(rs)
    if args.reference:
        refs = []
        for s in args.seeds:
            r = evaluate_skills(PushDirections(), args, s)
            refs.append(r)
            print(f"reference (scripted push, 4 directions) seed {s}: success {r['success_rate']:.2f}", flush=True)
        payload["reference_scripted_push_directions_goal_success"] = statistics.fmean(r["success_rate"] for r in refs)
        payload["reference_per_seed"] = refs
    base = [payload[f"{m}_goal_success"] for m in per_method if m != "slim"]
    if "slim" in per_method and base:
        best = max(base)
        payload["target"] = {"slim_at_least_0.5": payload["slim_goal_success"] >= 0.5,
                             "slim_at_least_1.5x_best_baseline": payload["slim_goal_success"] >= 1.5 * best
                             if best > 0 else payload["slim_goal_success"] > 0,
                             "best_baseline": best}
    payload["per_run"] = per_method
    payload["elapsed_s"] = round(time.perf_counter() - t0, 1)
    payload["loadavg"] = {"start": [round(x, 2) for x in load0], "end": [round(x, 2) for x in os.getloadavg()]}
    atomic_write_json(out, payload)
    print(json.dumps({k: v for k, v in payload.items() if k.endswith("_goal_success")}))
    print(f"wrote {out}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
