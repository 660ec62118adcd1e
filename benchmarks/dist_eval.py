"""Evaluation on Ray actors (skill_rl.dist): speed-up of 1 vs 2 workers, and the Ray path's overhead.

::

    nice -n 10 python benchmarks/dist_eval.py            # ~3-5 min on the shared 2-core machine
    python benchmarks/dist_eval.py --quick               # ~1 min smoke (results to $TMPDIR)
    python benchmarks/dist_eval.py --debug --out /tmp/dist_eval.json   # smallest smoke: 1 round, 10-step episodes

Measured side by side in one run, on one local Ray (``num_cpus=2``), the same policy and seeds throughout:

* **SLIM skill evaluation** (``TabletopPush``, 4 discrete skills x 3 start states, 200-step episodes, an
  untrained seeded policy of the default width; what ``run_discovery`` evaluates at the end): the serial
  ``rollout_skills`` in this process, a warm :class:`~skill_rl.dist.evaluation.SkillEvalPool` of 1 actor and
  one of 2 actors.
* **Lifelong evaluation** (``tabletop-object``, 4 tasks x 10 rollouts of <= 100 steps, an untrained MLP
  policy): ``Evaluator`` in process, and ``eval_backend=ray`` with 1 and with 2 actors.
* **Overhead on a small job** (2 skills x 2 starts x 20 steps): serial vs a warm 1-actor pool (the cost of a
  Ray round trip per episode plus shipping the policy), and the one-off costs: ``ray.init`` and starting
  the actors (each imports torch and builds its env).

Rounds alternate the order of the paths and the medians are reported; every round checks that the Ray
results equal the serial ones. Writes ``benchmarks/results/dist_eval.json`` atomically.
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
from pathlib import Path
from typing import Any

import numpy as np

from skill_rl.fileio import atomic_write_json

REPO = Path(__file__).resolve().parent.parent


def _median_times(fns: dict[str, Any], rounds: int) -> tuple[dict[str, float], dict[str, Any]]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    last: dict[str, Any] = {}
    names = list(fns)
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            t = time.perf_counter()
            last[name] = fns[name]()
            times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}, last | {"_all": times}


def _same(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


def slim_policy(width: int, n_skills: int, episodes: int, steps: int, run_root: str):
    import torch

    from skill_rl.discovery.policy import SkillPolicy
    from skill_rl.discovery.train import DiscoveryConfig, build_model, make_env

    cfg = DiscoveryConfig(n_skills=n_skills, net_arch=[width, width], phi_hidden=[width, width], buffer_size=1000,
                          eval_episodes_per_skill=episodes, video=False, run_root=run_root,
                          env_options={"max_episode_steps": steps})
    env = make_env(cfg)
    torch.manual_seed(0)
    model = build_model(cfg, env)
    return SkillPolicy.from_model(model, cfg.n_skills, cfg.discrete_skills, env.obs_layout), cfg, env


def bench_slim(args: argparse.Namespace, tmp: str) -> dict[str, Any]:
    from skill_rl.discovery.train import rollout_skills
    from skill_rl.dist.evaluation import SkillEvalPool

    policy, cfg, env = slim_policy(256, 4, 3, args.slim_steps, tmp)
    t = time.perf_counter()
    # 3 actors side by side on 2 cores: Ray bookkeeping of 0.5 CPU each (one torch thread each regardless)
    pool1 = SkillEvalPool(cfg, workers=1, cpus_per_worker=0.5)
    pool2 = SkillEvalPool(cfg, workers=2, cpus_per_worker=0.5)
    pool1.rollout_skills(policy)  # warm: actors started, envs built
    pool2.rollout_skills(policy)
    start_s = time.perf_counter() - t
    ref = rollout_skills(policy, env, cfg)
    med, last = _median_times({"serial": lambda: rollout_skills(policy, env, cfg),
                               "ray_1_worker": lambda: pool1.rollout_skills(policy),
                               "ray_2_workers": lambda: pool2.rollout_skills(policy)}, args.rounds)
    same = all(_same(last[k], ref) for k in ("serial", "ray_1_worker", "ray_2_workers"))
    pool1.close()
    pool2.close()
    env.close()
    episodes = len(ref["skill_ids"])
    return {"job": f"TabletopPush, {cfg.n_skills} skills x {cfg.eval_episodes_per_skill} starts = {episodes} "
                   f"episodes of {args.slim_steps} steps, actor 256x256",
            "median_s": med, "all_s": last["_all"], "same_results_as_serial": same,
            "speedup_2_vs_1_workers": med["ray_1_worker"] / med["ray_2_workers"],
            "speedup_2_workers_vs_serial": med["serial"] / med["ray_2_workers"],
            "ray_1_worker_vs_serial_time": med["ray_1_worker"] / med["serial"],
            "pools_warmup_s": start_s}


def bench_lifelong(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from skill_rl.dist.pool import WorkerPool
    from skill_rl.lifelong.algos import AlgoConfig, make_algo
    from skill_rl.lifelong.demos import env_schema
    from skill_rl.lifelong.evaluation import Evaluator, _RayEvalWorker
    from skill_rl.lifelong.policies import PolicyConfig, TaskPolicy, text_features
    from skill_rl.lifelong.suites import get_suite

    suite = get_suite("tabletop-object").subset(args.ll_tasks)
    schema = env_schema(suite)
    torch.manual_seed(0)
    algo = make_algo("seql", TaskPolicy(PolicyConfig(obs_dim=schema.dim, act_dim=7)), AlgoConfig())
    jobs = [(k, t.factory, text_features(t.language)) for k, t in enumerate(suite.tasks)]
    n, steps = args.ll_rollouts, args.ll_steps
    local = Evaluator(schema, n, steps, workers=1)
    ray2 = Evaluator(schema, n, steps, workers=2, backend="ray")
    ray1 = Evaluator(schema, n, steps, workers=2, backend="ray")
    # eval_backend=ray with one actor (workers=1 means in-process); 0.5 CPU each so all 3 actors fit on 2 CPUs
    ray1._ray = WorkerPool(_RayEvalWorker, 1, num_cpus=0.5)
    ray2._ray = WorkerPool(_RayEvalWorker, 2, num_cpus=0.5)
    t = time.perf_counter()
    ref = local.evaluate_stats(algo, jobs)
    ray1.evaluate_stats(algo, jobs)
    ray2.evaluate_stats(algo, jobs)
    warm_s = time.perf_counter() - t
    med, last = _median_times({"in_process": lambda: local.evaluate_stats(algo, jobs),
                               "ray_1_worker": lambda: ray1.evaluate_stats(algo, jobs),
                               "ray_2_workers": lambda: ray2.evaluate_stats(algo, jobs)}, args.rounds)
    same = all(last[k] == ref for k in ("in_process", "ray_1_worker", "ray_2_workers"))
    for ev in (local, ray1, ray2):
        ev.close()
    return {"job": f"tabletop-object, {len(jobs)} tasks x {n} rollouts of <= {steps} steps, MLP 256",
            "median_s": med, "all_s": last["_all"], "same_results_as_in_process": same,
            "success": [r["success"] for r in ref],
            "speedup_2_vs_1_workers": med["ray_1_worker"] / med["ray_2_workers"],
            "speedup_2_workers_vs_in_process": med["in_process"] / med["ray_2_workers"],
            "warmup_s": warm_s}


def bench_overhead(args: argparse.Namespace, tmp: str) -> dict[str, Any]:
    from skill_rl.discovery.train import rollout_skills
    from skill_rl.dist.evaluation import SkillEvalPool

    policy, cfg, env = slim_policy(64, 2, 2, 20, tmp)
    t = time.perf_counter()
    pool = SkillEvalPool(cfg, workers=1)
    pool.rollout_skills(policy)
    cold_s = time.perf_counter() - t
    med, last = _median_times({"serial": lambda: rollout_skills(policy, env, cfg),
                               "ray_1_worker": lambda: pool.rollout_skills(policy)}, max(args.rounds, 7))
    same = _same(last["serial"], last["ray_1_worker"])
    pool.close()
    env.close()
    return {"job": "TabletopPush, 2 skills x 2 starts = 4 episodes of 20 steps, actor 64x64",
            "median_s": med, "all_s": last["_all"], "same_results_as_serial": same,
            "overhead_s": med["ray_1_worker"] - med["serial"],
            "ray_vs_serial_time": med["ray_1_worker"] / med["serial"],
            "first_call_with_actor_start_s": cold_s}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--slim-steps", type=int, default=200)
    p.add_argument("--ll-tasks", type=int, default=4)
    p.add_argument("--ll-rollouts", type=int, default=10)
    p.add_argument("--ll-steps", type=int, default=100)
    p.add_argument("--quick", action="store_true", help="3 rounds, shorter episodes; results to $TMPDIR")
    p.add_argument("--debug", action="store_true", help="1 round, 10-step episodes, 1 lifelong task x 1 rollout")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.slim_steps, args.ll_tasks, args.ll_rollouts, args.ll_steps = 3, 50, 2, 4, 50
    if args.debug:
        args.quick = True
        args.rounds, args.slim_steps, args.ll_tasks, args.ll_rollouts, args.ll_steps = 1, 10, 1, 1, 10
    out = args.out or (Path(tempfile.gettempdir()) / "dist_eval_quick.json" if args.quick
                       else REPO / "benchmarks" / "results" / "dist_eval.json")
    os.environ.setdefault("MUJOCO_GL", "osmesa")
    import ray
    import torch

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    t = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - t
    t_all = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            slim = bench_slim(args, tmp)
            print("slim", json.dumps(slim["median_s"]), flush=True)
            lifelong = bench_lifelong(args)
            print("lifelong", json.dumps(lifelong["median_s"]), flush=True)
            overhead = bench_overhead(args, tmp)
            print("overhead", json.dumps(overhead["median_s"]), flush=True)
    finally:
        ray.shutdown()
    payload = {
        "benchmark": "dist_eval", "date": time.strftime("%Y-%m-%d %H:%M"), "quick": args.quick, "debug": args.debug,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                    "ray": ray.__version__, "torch": torch.__version__, "load_avg_before": load_before,
                    "load_avg_after": os.getloadavg(), "note": "shared VM: other jobs ran on the same 2 cores"},
        "method": f"local Ray num_cpus=2, 1 CPU and 1 torch thread per actor, driver 1 torch thread; "
                  f"{args.rounds} rounds alternating the order of the paths, median wall-clock per evaluation",
        "ray_init_s": init_s, "slim_skill_eval": slim, "lifelong_eval": lifelong, "small_job_overhead": overhead,
        "total_s": time.perf_counter() - t_all,
    }
    atomic_write_json(out, payload)
    print(json.dumps({"slim_speedup_2_vs_1": slim["speedup_2_vs_1_workers"],
                      "slim_speedup_2_vs_serial": slim["speedup_2_workers_vs_serial"],
                      "lifelong_speedup_2_vs_1": lifelong["speedup_2_vs_1_workers"],
                      "lifelong_speedup_2_vs_in_process": lifelong["speedup_2_workers_vs_in_process"],
                      "small_job_overhead_s": overhead["overhead_s"], "same": [
                          slim["same_results_as_serial"], lifelong["same_results_as_in_process"],
                          overhead["same_results_as_serial"]]}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
