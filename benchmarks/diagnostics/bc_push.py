#!/usr/bin/env python
"""Why the ``push`` BC primitive stops near 80 % (``bc_primitives.json``: 79 % ± 3, its scripted demonstrator 100 %).

    nice -n 10 python benchmarks/diagnostics/bc_push.py --out benchmarks/results/bc_push_diagnosis.json

Each variant is one ``train_bc_primitive("TabletopPush-v0", "push", cube -> region)`` run (the benchmark's
demos, evaluation seeds and moved starts) with one thing changed: training steps, demos, DART noise, history,
batch size or action head. Its policy is then replayed on the same held-out episodes, logging what the cube
and the hand do, so each failure gets a cause: the cube pushed *off the line* (the angle between where it went
and where the region was, seen from its start), and the hand *frozen* after it (moved < 1 cm over the last 50
steps). The scripted demonstrator is run on the same starts with DART noise 0 / 0.1 / 0.2 as the reference:
how far off the line it pushes, and that it recovers. Finished variants are kept in ``--out`` and skipped
(rerun the same line to resume); ~1.5-3 min per variant on one idle core.

Demonstrator variants (session 14) change the scripted ``push`` that records the demos, not the learner:
``slow_push`` (a shove at 0.15 instead of 0.5 of the step limit, aiming 2 cm instead of 4 cm ahead) and
``phase_free`` (:func:`phase_free_push_act`: the same motions as a function of the observation alone, no phase
kept between steps, so nothing a policy sees is hidden from it). Each failure also records the size of the
policy's last translation action and of the phase-free push's at the same observation: a policy that stops
where the demonstrator would still move has learnt a zero there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "osmesa")

WORLD, PRIMITIVE, CALL = "TabletopPush-v0", "push", {"obj": "cube", "target_xy": "region"}
# tag -> overrides of the benchmark's push/default budget (100 demos, 18000 steps, DART noise 0.1, history 2,
# batch 32, Gaussian head)
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {}, "steps_36k": {"steps": 36000}, "steps_72k": {"steps": 72000}, "demos_200": {"demos": 200},
    "noise_0.05": {"noise": 0.05}, "noise_0.2": {"noise": 0.2}, "history_4": {"history": 4},
    "batch_128": {"batch_size": 128}, "head_gmm": {"head": "gmm"}, "head_logistic": {"head": "logistic"},
    "history_1": {"history": 1}, "slow_push": {"push_speed": 0.15, "push_lead": 0.02},
    "phase_free": {"expert": "phase_free"},
    "gmm_noise_0.05": {"head": "gmm", "noise": 0.05},
    "gmm_noise_0.05_demos_200": {"head": "gmm", "noise": 0.05, "demos": 200},
    "gmm_noise_0.05_steps_36k": {"head": "gmm", "noise": 0.05, "steps": 36000},
}
EXPERT_KEYS = ("expert", "push_speed", "push_lead")  # overrides of the demonstrator rather than of the recipe
DEFAULT_RUNS = ["default:0", "default:1", "default:2", "steps_36k:0", "steps_36k:1", "steps_36k:2", "steps_72k:0",
                "demos_200:0", "noise_0.05:0", "noise_0.2:0", "history_4:0", "batch_128:0",
                "head_gmm:0", "head_logistic:0", "history_1:0", "history_1:1", "history_1:2", "slow_push:0",
                "slow_push:1", "slow_push:2", "phase_free:0", "phase_free:1", "phase_free:2", "head_gmm:1", "head_gmm:2",
                "noise_0.05:1", "noise_0.05:2", "gmm_noise_0.05:0", "gmm_noise_0.05:1", "gmm_noise_0.05:2",
                *(f"gmm_noise_0.05_{v}:{s}" for v in ("demos_200", "steps_36k") for s in range(3))]
OFF_LINE_DEG = 20.0  # the scripted pushes stay within ~18 degrees of the line even at DART noise 0.2
FROZEN_M = 0.01


def phase_free_push_act(self: Any, obs: Any) -> Any:
    """The scripted push's motions as a function of the observation alone (a ``PushExpert._act``): in the contact
    zone behind the cube (within 2 cm of the line, at push height) shove along the line; anywhere else approach
    the point behind the cube down a cone (height 2x the horizontal distance, at most 7 cm up), straight up first
    when low beside the cube; once the cube is within 12 mm of the goal, rise without turning."""
    import numpy as np

    from skill_rl.envs.tabletop.experts import quat_wxyz_to_mat

    cube, eef = self.pushed_pos(obs), self.get(obs, "eef_pos")
    to_goal = self.goal_xy(obs) - cube[:2]
    dist = float(np.linalg.norm(to_goal))
    d = to_goal / (dist + 1e-9)
    if dist < 0.012:
        self.phase = "retreat"  # (only what ``finished`` reads; nothing is kept for the next step)
        hand = quat_wxyz_to_mat(self.get(obs, "eef_quat"))
        return self.move(obs, [eef[0], eef[1], 0.15], float(np.arctan2(hand[1, 0], hand[0, 0])), gripper=1.0,
                         max_speed=0.5)
    yaw = (float(np.arctan2(d[1], d[0])) + np.pi / 2) % np.pi - np.pi / 2
    contact = self.half + self.paddle
    rel = cube[:2] - eef[:2]
    along = float(rel @ d)
    lateral = rel - along * d
    if np.linalg.norm(lateral) < 0.02 and contact - 0.01 < along < contact + 0.03 and eef[2] < self.push_height + 0.012:
        self.phase = "push"
        target_xy = cube[:2] - contact * d + min(dist, self.push_lead) * d + 0.8 * lateral
        return self.move(obs, np.array([*target_xy, self.push_height]), yaw, gripper=1.0, gain=0.8,
                         max_speed=self.push_speed)
    self.phase = "above"
    behind = cube[:2] - (contact + 0.015) * d
    height = self.push_height + min(0.07, 2.0 * float(np.linalg.norm(eef[:2] - behind)))
    if eef[2] < height - 0.02 and np.linalg.norm(rel) < self.half + 0.05:
        return self.move(obs, [eef[0], eef[1], height], yaw, gripper=1.0)
    return self.move(obs, np.array([*behind, height]), yaw, gripper=1.0, approach=True)


@contextlib.contextmanager
def demonstrator(overrides: dict[str, Any]):
    """The scripted ``push`` primitive with ``overrides`` (``expert: phase_free``, ``push_speed``, ``push_lead``)
    for the ``with`` block; restored after it."""
    from skill_rl.envs.tabletop.primitives import Push

    patch: dict[str, Any] = {k: v for k, v in overrides.items() if k in EXPERT_KEYS and k != "expert"}
    if overrides.get("expert") == "phase_free":
        patch["_act"] = phase_free_push_act
    saved = {k: Push.__dict__[k] for k in patch if k in Push.__dict__}
    for k, v in patch.items():
        setattr(Push, k, v)
    try:
        yield
    finally:
        for k in patch:
            if k in saved:
                setattr(Push, k, saved[k])
            else:
                delattr(Push, k)


def episode_stats(env: Any, act: Any, reset: Any, succeeded: Any, seed: int, moved: bool, horizon: int,
                  rng: Any = None, noise: float = 0.0, reference: Any = None) -> dict[str, Any]:
    """Run one episode (``act(obs)`` each step, success checked every step); where the cube and the hand went.
    ``reference(obs) -> action``: also the size of its translation at the last step's observation, beside the
    size of the action taken there."""
    import numpy as np

    from skill_rl.imitation.bc_primitive import move_arm_to_a_random_start

    lay = env.unwrapped.obs_layout
    obs, _ = env.reset(seed=seed)
    if moved:
        obs = move_arm_to_a_random_start(env, obs, np.random.default_rng([seed, 7]))
    reset()
    cube0, region = obs[lay["cube_pos"]].copy(), obs[lay["region_pos"]][:2].copy()
    cubes, hands, ok = [], [], False
    last_obs, last_action = obs, np.zeros(3)
    for _ in range(horizon):
        action = np.asarray(act(obs), np.float32)
        last_obs, last_action = obs, action[:3].copy()
        if noise > 0:
            action = action.copy()
            action[:-1] = np.clip(action[:-1] + rng.normal(0.0, noise, action.size - 1), -1.0, 1.0)
        obs, *_ = env.step(action)
        cubes.append(obs[lay["cube_pos"]][:2].copy())
        hands.append(obs[lay["eef_pos"]].copy())
        if succeeded(obs):
            ok = True
            break
    cube, hand = np.array(cubes), np.array(hands)
    went, wanted = cube[-1] - cube0[:2], region - cube0[:2]
    cos = float(went @ wanted / (np.linalg.norm(went) * np.linalg.norm(wanted) + 1e-9))
    return {"seed": seed, "moved_start": moved, "success": ok, "steps": len(cube),
            "start_distance_m": float(np.linalg.norm(wanted)),
            "final_distance_m": float(np.linalg.norm(cube[-1] - region)),
            "closest_m": float(np.linalg.norm(cube - region, axis=1).min()),
            "displacement_m": float(np.linalg.norm(went)),
            "off_line_deg": float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))),
            "hand_moved_last50_m": float(np.linalg.norm(hand[-1] - hand[max(0, len(hand) - 50)])),
            "last_action_norm": float(np.linalg.norm(last_action)),
            **({"reference_action_norm": float(np.linalg.norm(np.asarray(reference(last_obs))[:3]))}
               if reference is not None else {})}


def summarise(episodes: list[dict[str, Any]]) -> dict[str, Any]:
    fails = [e for e in episodes if not e["success"]]
    wins = [e for e in episodes if e["success"]]

    def mean(xs: list[float]) -> float | None:
        return statistics.fmean(xs) if xs else None

    return {"success": statistics.fmean(e["success"] for e in episodes),
            "success_reset_starts": mean([e["success"] for e in episodes if not e["moved_start"]]),
            "success_moved_starts": mean([e["success"] for e in episodes if e["moved_start"]]),
            "failures": len(fails),
            "failures_off_line": sum(e["off_line_deg"] > OFF_LINE_DEG for e in fails),
            "failures_frozen": sum(e["hand_moved_last50_m"] < FROZEN_M for e in fails),
            "failures_zero_where_expert_moves": sum(e["last_action_norm"] < 0.05 and e.get("reference_action_norm", 0)
                                                    > 0.1 for e in fails),
            "off_line_deg_failures_mean": mean([e["off_line_deg"] for e in fails]),
            "off_line_deg_successes_mean": mean([e["off_line_deg"] for e in wins]),
            "off_line_deg_max_success": max((e["off_line_deg"] for e in wins), default=None),
            "median_steps_successes": statistics.median([e["steps"] for e in wins]) if wins else None}


def expert_reference(episodes: int, noises: list[float]) -> dict[str, Any]:
    """The scripted push on the evaluation starts of seed 0, with DART noise executed (not recorded)."""
    import numpy as np

    from skill_rl.imitation.bc_primitive import EVAL_SEED_BASE, make_scripted, make_world
    from skill_rl.library import primitive

    env, spec, out = make_world(WORLD), primitive(PRIMITIVE), {}
    for noise in noises:
        skill, rng = make_scripted(env, PRIMITIVE, **CALL), np.random.default_rng(0)
        eps = [episode_stats(env, skill.act, skill.reset, lambda o: spec.succeeded(env, o, CALL), EVAL_SEED_BASE + r,
                             r < episodes // 2, skill.horizon, rng, noise) for r in range(episodes)]
        out[f"noise_{noise}"] = summarise(eps)
    env.close()
    return out


def run_variant(tag: str, seed: int, episodes: int, debug: bool) -> dict[str, Any]:
    """Train the variant (the benchmark's ``train_bc_primitive``), then replay its policy with logging."""
    import numpy as np

    from skill_rl.imitation.bc_primitive import (
        CORE_RECIPE,
        DEBUG_BUDGET,
        EVAL_SEED_BASE,
        SEED_STRIDE,
        make_scripted,
        make_world,
        train_bc_primitive,
    )

    over = dict(VARIANTS[tag])
    expert_over = {k: over.pop(k) for k in EXPERT_KEYS if k in over}
    demos, steps, noise = over.pop("demos", 100), over.pop("steps", 18000), over.pop("noise", 0.1)
    over.setdefault("head", CORE_RECIPE["head"])  # the recipe the variants change (push's own default is a mixture)
    if debug:
        demos, steps, episodes = DEBUG_BUDGET["demos"], DEBUG_BUDGET["steps"], DEBUG_BUDGET["eval_episodes"]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bc-push-") as tmp:
        with demonstrator(expert_over):
            res = train_bc_primitive(WORLD, PRIMITIVE, CALL, demos=demos, steps=steps, seed=seed,
                                     library=tmp + "/lib", name="bc_push", out_dir=tmp, eval_episodes=episodes,
                                     action_noise=noise, progress=False, **over)
        wall = time.perf_counter() - t0
        env = make_world(WORLD)
        assert res.entry is not None  # a library was given
        skill = res.entry.load(env)
        ref = make_scripted(env, PRIMITIVE, **CALL).motion  # the phase-free push's action at the same observation

        def reference(obs: Any) -> Any:
            return phase_free_push_act(ref, np.asarray(obs, np.float64))

        seeds = [EVAL_SEED_BASE + SEED_STRIDE * seed + r for r in range(episodes)]
        eps = [episode_stats(env, skill.act, skill.reset, skill.success, s, r < round(0.5 * episodes), skill.horizon,
                             reference=reference) for r, s in enumerate(seeds)]
        env.close()
    s = res.summary
    return {"tag": tag, "seed": seed, "overrides": VARIANTS[tag], "benchmark_success": res.success_rate,
            **summarise(eps), "demo_mean_length": s["demos"]["mean_length"], "demo_attempts": s["demos"]["attempts"],
            "final_nll": s["train"]["final"].get("nll"), "wall_s": round(wall, 1), "episodes": eps}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, help="tag:seed, tags: " + ", ".join(VARIANTS))
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--debug", action="store_true", help="one variant at the debug budget (seconds)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/bc_push_diagnosis.json"))
    args = p.parse_args(argv)
    from skill_rl.fileio import atomic_write_text

    runs = ["default:0"] if args.debug else args.runs
    for r in runs:
        tag, _, seed = r.partition(":")
        if tag not in VARIANTS or not seed.isdigit():
            p.error(f"--runs: {r!r} is not tag:seed with a tag among {', '.join(VARIANTS)}")
    payload: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    payload.setdefault("variants", {})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if "expert" not in payload:
        payload["expert"] = expert_reference(4 if args.debug else args.episodes, [0.0, 0.1, 0.2])
        atomic_write_text(args.out, json.dumps(payload, indent=1) + "\n")
    for tag in dict.fromkeys(r.partition(":")[0] for r in runs):  # the demonstrator variants' own reference
        expert_over = {k: v for k, v in VARIANTS[tag].items() if k in EXPERT_KEYS}
        if expert_over and tag not in payload.setdefault("expert_variants", {}):
            with demonstrator(expert_over):
                payload["expert_variants"][tag] = expert_reference(4 if args.debug else args.episodes, [0.0, 0.1, 0.2])
            atomic_write_text(args.out, json.dumps(payload, indent=1) + "\n")
    for r in runs:
        if r in payload["variants"]:
            continue
        tag, _, seed = r.partition(":")
        payload["variants"][r] = run_variant(tag, int(seed), args.episodes, args.debug)
        v = payload["variants"][r]
        print(f"{r}: {v['success']:.0%} (failures {v['failures']}: off the line {v['failures_off_line']}, "
              f"frozen {v['failures_frozen']}; {v['wall_s']:.0f} s)", flush=True)
        by_tag: dict[str, list[float]] = {}
        for key, val in payload["variants"].items():
            by_tag.setdefault(key.split(":")[0], []).append(val["success"])
        payload["success_by_variant"] = {t: {"mean": statistics.fmean(v), "seeds": v} for t, v in by_tag.items()}
        payload.update(created=time.strftime("%Y-%m-%d %H:%M:%S"), episodes=args.episodes, debug=args.debug,
                       off_line_deg=OFF_LINE_DEG, frozen_m=FROZEN_M)
        atomic_write_text(args.out, json.dumps(payload, indent=1) + "\n")  # after every variant: resumable
    print(json.dumps(payload["success_by_variant"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
