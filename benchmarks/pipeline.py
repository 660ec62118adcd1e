"""The same tasks and seeds in process and over ROS 2, for scripted and for learned skills (issue 17).

Task: ``tasks/place_then_lift.task`` (put the blue cube in the region, then lift the red cube: two plan steps).
Two libraries:

* ``scripted``: the catalog's scripted primitives;
* ``learned``: the scripted primitives without ``lift``, plus a lift learned by behaviour cloning from scripted
  demos (``skill_rl.imitation.bc_primitive.train_bc_primitive``, trained once per run, ``--demos``/``--steps``):
  the plan's lift step must run the learned policy.

Two ways to run each (library, reset seed):

* ``sim``: ``skill_rl.planning.execute.run_plan`` in this process (the env stepped as fast as it computes);
* ``ros``: the simulated graph (arm_hal's MuJoCo world behind the HAL's safety filter + skill_server + task_executor,
  real DDS on loopback, a leased domain): ``~/reset_world`` to the seed, then a ``RunTask`` goal with the task;
  the executor plans over the same library and sends one ExecuteSkill goal per step.

Success is the task's goal atoms on the final state (the executor's check on the perceived state over ROS).
Per-step overhead: over ROS each control step waits for a fresh perception at the skill server's ``rate_hz``
(10 Hz in launch/sim.yaml; docs/execution.md, "Control rate"), so wall clock per control step is compared with
in-process compute per control step, and the time a RunTask
spends outside its skills (planning, goal dispatch, the arm's stop) is reported per plan step.

Resumable: one JSON line per (library, mode, seed) in ``<out>.runs.jsonl``; finished runs are skipped. Writes
``benchmarks/results/pipeline.json``.

    python benchmarks/pipeline.py                    # 20 held-out seeds per cell (~15 min on 2 cores)
    python benchmarks/pipeline.py --debug --out /tmp/p.json   # 2 seeds, a tiny BC (about a minute)
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TASK = REPO / "tasks" / "place_then_lift.task"
SEED0 = 5000  # held-out reset seeds: the BC demos use 100000000+, its evaluation 200000000+


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def make_libraries(root: Path, demos: int, steps: int, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two libraries (kept in ``root`` so a resumed run reuses the learned skill) and the BC summary."""
    from skill_rl.library import SkillLibrary, add_scripted_primitives
    from skill_rl.library.catalog import CATALOG

    scripted = SkillLibrary(root / "scripted")
    add_scripted_primitives(scripted)
    learned = SkillLibrary(root / "learned")
    add_scripted_primitives(learned, names=[n for n in CATALOG if n != "lift"])
    summary_path = root / "bc_summary.json"
    if "lift_red_bc" not in learned:
        from skill_rl.imitation.bc_primitive import train_bc_primitive

        result = train_bc_primitive(str(TASK), "lift", {"obj": "cube_red"}, demos=demos, steps=steps, seed=seed,
                                    library=learned, name="lift_red_bc", out_dir=root / "bc_runs", eval_episodes=50,
                                    progress=False)
        summary_path.write_text(json.dumps(result.summary, default=str))
    return {"scripted": scripted, "learned": learned}, json.loads(summary_path.read_text())


def run_sim(library: Any, seed: int) -> dict[str, Any]:
    from skill_rl.envs import make_task_env
    from skill_rl.planning.execute import SkillSet, run_plan
    from skill_rl.planning.tasklang import load_task

    spec = load_task(TASK)
    env = make_task_env(spec)
    obs, _ = env.reset(seed=seed)
    t0 = time.perf_counter()
    trace = run_plan(env, obs, spec.goal, SkillSet(library))
    wall = time.perf_counter() - t0
    env.close()
    skills = [d["skill"] for d in trace["decisions"]]
    return {"success": bool(trace["success"]), "control_steps": int(trace["env_steps"]), "wall_s": wall,
            "plan_steps": len(trace["decisions"]), "skills": skills, "reason": trace["reason"]}


class RosGraph:
    """The simulated graph on one library, started once and reused for every seed."""

    def __init__(self, library: Any, logs: Path):
        from skill_rl.ros.testing import DomainLease, RosProbe, wait_until
        from skill_rl.ros.up import Graph

        self.lease = DomainLease().__enter__()
        world, lib = str(TASK), str(library.root)
        self.graph = Graph(REPO / "launch" / "sim.yaml", domain_id=self.lease.domain_id, log_dir=logs,
                           overrides={"arm_hal": {"task": world}, "skill_server": {"world": world, "library": lib},
                                      "task_executor": {"world": world, "library": lib}}).start()
        self.probe = RosProbe()
        self.wait_until = wait_until
        self.probe.wait_arm_state("ACTIVE", 120)
        wait_until(lambda: self.probe.objects is not None, 60, what="/object_states")
        assert self.probe.task_client.wait_for_server(timeout_sec=120), "no /run_task"
        self.probe.wait_server_sees("ACTIVE", 120)

    def run(self, seed: int) -> dict[str, Any]:
        p = self.probe
        if p.arm_state.get("state") == "FAULT":
            p.call("reset_fault")
            p.wait_arm_state("ACTIVE", 30)
        res = p.reset_world(seed)
        if not res.success:
            raise RuntimeError(f"reset_world({seed}): {res.message}")
        t_reset = time.time()
        self.wait_until(lambda: p.objects["stamp"] > t_reset + 0.1, 30, what="object states after the reset")
        p.wait_server_sees("ACTIVE", 30)
        t0 = time.perf_counter()
        run = p.run_task(task_file=str(TASK), server_timeout=60)
        if not run.wait_answer(60):
            raise RuntimeError("the task executor rejected the task")
        run.wait_result(600)
        wall = time.perf_counter() - t0
        r = run.result
        skills: list[str] = []  # the skills of the ExecuteSkill goals, in order (feedback names each running one)
        seen = None
        for fb in run.feedback:
            key = (fb.skill, fb.step, fb.replans)
            if fb.skill and key != seen and fb.phase == "":  # the first feedback of a step has no phase yet
                skills.append(fb.skill)
            seen = key
        return {"success": r.error_code == 0, "code": int(r.error_code), "message": r.message[:300], "wall_s": wall,
                "plan_steps": int(r.steps_run), "control_steps": int(r.control_steps), "skills": skills,
                "replans": int(r.replans)}

    def close(self) -> None:
        self.probe.close()
        self.graph.stop(grace=5.0)
        self.lease.__exit__()


def summarise(runs: list[dict[str, Any]], seeds: list[int], bc: dict[str, Any], args: argparse.Namespace,
              total_s: float) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for lib in ("scripted", "learned"):
        for mode in ("sim", "ros"):
            rows = [r for r in runs if r["library"] == lib and r["mode"] == mode and r["seed"] in seeds]
            k, n = sum(r["success"] for r in rows), len(rows)
            steps = sum(r.get("control_steps", 0) for r in rows)
            cells[f"{mode}_{lib}"] = {
                "success_rate": k / n if n else None, "successes": k, "n": n, "wilson95": wilson(k, n),
                "per_seed": {str(r["seed"]): r["success"] for r in rows},
                "wall_s_mean": float(np.mean([r["wall_s"] for r in rows])) if rows else None,
                "plan_steps_mean": float(np.mean([r["plan_steps"] for r in rows])) if rows else None,
                "control_steps": steps,
                "learned_skill_ran": sum("lift_red_bc" in " ".join(r.get("skills", [])) for r in rows),
            }
    out: dict[str, Any] = {
        "task": str(TASK.relative_to(REPO)), "seeds": seeds,
        "sim_success_scripted": cells["sim_scripted"]["success_rate"],
        "ros_success_scripted": cells["ros_scripted"]["success_rate"],
        "sim_success_learned": cells["sim_learned"]["success_rate"],
        "ros_success_learned": cells["ros_learned"]["success_rate"],
        "cells": cells,
        "learned_skill": {k: bc.get(k) for k in ("entry", "success_rate", "eval_episodes", "demos", "wall_s")},
        "targets": {"ros_scripted_at_least": 0.95, "ros_equals_sim_within_noise": "Wilson 95% intervals overlap"},
    }
    for lib in ("scripted", "learned"):
        a, b = cells[f"sim_{lib}"]["wilson95"], cells[f"ros_{lib}"]["wilson95"]
        out[f"{lib}_ros_equals_sim_within_noise"] = bool(a[0] <= b[1] and b[0] <= a[1])
    # Per-step overhead: ROS wall clock per control step (perception-paced at rate_hz, plus goal dispatch) against
    # in-process compute per control step, from the skill server's own step counts over ROS.
    ros_steps = sum(r.get("control_steps", 0) for r in runs if r["mode"] == "ros")
    ros_wall = sum(r["wall_s"] for r in runs if r["mode"] == "ros")
    sim_steps = sum(r.get("control_steps", 0) for r in runs if r["mode"] == "sim")
    sim_wall = sum(r["wall_s"] for r in runs if r["mode"] == "sim")
    out["ros_s_per_control_step"] = ros_wall / ros_steps if ros_steps else None
    out["sim_s_per_control_step"] = sim_wall / sim_steps if sim_steps else None
    out["ros_overhead_s_per_control_step"] = (out["ros_s_per_control_step"] - out["sim_s_per_control_step"]
                                              if ros_steps and sim_steps else None)
    from skill_rl.ros.up import node_params

    rate_hz = float(node_params(REPO / "launch" / "sim.yaml", "skill_server")["rate_hz"])
    out["control_rate_hz"] = rate_hz
    out["control_period_s"] = 1.0 / rate_hz
    out["notes"] = (f"over ROS a control step waits for a fresh perception ({rate_hz:g} Hz, launch/sim.yaml), so its "
                    f"wall clock is bounded below by the {1.0 / rate_hz:g} s control period; in process the env steps "
                    "as fast as it computes")
    out["machine"] = {"python": platform.python_version(), "cpu_count": __import__("os").cpu_count()}
    out["config"] = {"demos": args.demos, "steps": args.steps, "bc_seed": args.bc_seed}
    out["total_wall_s"] = total_s
    return out


def write_md(res: dict[str, Any], path: Path) -> None:
    c = res["cells"]
    lines = [f"# Pipeline: in process vs over ROS 2 ({res['task']}, {len(res['seeds'])} held-out seeds)", "",
             "| library | in process | over ROS 2 | equal within noise | learned skill ran (ROS) |", "|---|---|---|---|---|"]
    for lib in ("scripted", "learned"):
        s, r = c[f"sim_{lib}"], c[f"ros_{lib}"]
        lines.append(f"| {lib} | {s['successes']}/{s['n']} ({s['success_rate']:.2f}) | {r['successes']}/{r['n']} "
                     f"({r['success_rate']:.2f}) | {res[f'{lib}_ros_equals_sim_within_noise']} | "
                     f"{r['learned_skill_ran'] if lib == 'learned' else '-'} |")
    lines += ["", f"Learned lift: BC success on its own held-out episodes {res['learned_skill'].get('success_rate')} "
                  f"({res['learned_skill'].get('eval_episodes')} episodes).",
              f"Seconds per control step: over ROS {res['ros_s_per_control_step']:.4f} (perception-paced at {res['control_rate_hz']:g} Hz), "
              f"in process {res['sim_s_per_control_step']:.4f}; overhead {res['ros_overhead_s_per_control_step']:.4f}.",
              f"Total wall clock {res['total_wall_s']:.0f} s. Raw: `{path.with_suffix('.json').name}`."]
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--demos", type=int, default=100, help="scripted demos for the learned lift")
    ap.add_argument("--steps", type=int, default=8000, help="BC gradient steps for the learned lift")
    ap.add_argument("--bc-seed", type=int, default=0)
    ap.add_argument("--modes", nargs="+", default=["sim", "ros"], choices=["sim", "ros"])
    ap.add_argument("--debug", action="store_true", help="2 seeds and a tiny BC (about a minute)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "pipeline.json")
    ap.add_argument("--work", type=Path, default=None, help="where libraries and logs go (default: next to --out)")
    args = ap.parse_args(argv)
    if args.debug:
        args.seeds, args.demos, args.steps = 2, 20, 500
    work = args.work or args.out.parent / f".{args.out.stem}_work"
    work.mkdir(parents=True, exist_ok=True)
    runs_path = args.out.with_suffix(".runs.jsonl")
    runs = [json.loads(line) for line in runs_path.read_text().splitlines()] if runs_path.exists() else []
    done = {(r["library"], r["mode"], r["seed"]) for r in runs}
    seeds = [SEED0 + i for i in range(args.seeds)]
    t0 = time.perf_counter()
    libraries, bc = make_libraries(work, args.demos, args.steps, args.bc_seed)
    print(f"learned lift: {bc.get('entry')} success {bc.get('success_rate')} on its held-out episodes", flush=True)
    for lib_name, library in libraries.items():
        for mode in args.modes:
            todo = [s for s in seeds if (lib_name, mode, s) not in done]
            if not todo:
                continue
            graph = RosGraph(library, work / f"logs_{lib_name}") if mode == "ros" else None
            try:
                for seed in todo:
                    row = run_sim(library, seed) if mode == "sim" else graph.run(seed)
                    row.update({"library": lib_name, "mode": mode, "seed": seed})
                    runs.append(row)
                    with open(runs_path, "a") as f:
                        f.write(json.dumps(row, default=str) + "\n")
                    print(f"{lib_name:8s} {mode:3s} seed {seed}: {'ok' if row['success'] else 'FAIL'} "
                          f"{row['wall_s']:.1f} s {row.get('skills')}", flush=True)
            finally:
                if graph is not None:
                    graph.close()
    from skill_rl.fileio import atomic_write_json

    res = summarise(runs, seeds, bc, args, time.perf_counter() - t0)
    atomic_write_json(args.out, res)
    write_md(res, args.out)
    print(json.dumps({k: res[k] for k in ("sim_success_scripted", "ros_success_scripted", "sim_success_learned",
                                           "ros_success_learned", "ros_overhead_s_per_control_step")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
