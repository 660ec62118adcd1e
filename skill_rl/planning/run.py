"""``skill-rl plan``: load a task file and a skill library, plan, execute with monitoring, record the run.

The run folder (``skill_rl.runs``) gets ``config.yaml``, ``trace.json`` (every decision: state, plan,
planning time, step, monitoring verdict), ``metrics.csv`` + TensorBoard (planning time per decision),
``videos/plan.mp4`` and ``summary.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from skill_rl.errors import UserError

__all__ = ["PlanRunConfig", "run_plan_task"]


@dataclass
class PlanRunConfig:
    """One planning run: which task, which skills, search and execution budgets."""

    goal: str = "tasks/stack_three.task"
    skills: str | None = None  # library folder; None: a temporary library of the scripted primitives
    targets: tuple[str, ...] = ()  # state goal items OBJECT=X,Y (m, world), added to the task's goal atoms
    scene_only: bool = False  # ignore the task file's goal atoms (use it for the scene; needs targets)
    learn_effects: int = 0  # > 0: learn the symbolic effects of skills without declared ones from this many runs
    seed: int = 0
    beam_width: int = 4
    max_depth: int = 8
    max_expansions: int = 5000
    heuristic: str = "h_add"
    max_decisions: int = 16
    video: bool = True
    video_every: int = 2  # keep every n-th frame
    render_size: tuple[int, int] = (240, 320)
    runs_root: str = "runs"
    debug: bool = False  # tiny mode: small frames, fewer decisions


def _library(root: str | None) -> Any:
    from skill_rl.library import SkillLibrary, add_scripted_primitives

    if root is None:
        lib = SkillLibrary(tempfile.mkdtemp(prefix="skill_rl_scripted_"))
        add_scripted_primitives(lib)
        return lib
    if not Path(root).exists():
        raise UserError(f"skill library folder {root} does not exist; create one with "
                        f"`skill-rl skills add-scripted --library {root}`")
    return SkillLibrary(root)


def run_plan_task(cfg: PlanRunConfig, inject: Any = None) -> dict[str, Any]:
    """Plan and execute ``cfg.goal`` with the skills in ``cfg.skills``; returns the summary (also on disk)."""
    from skill_rl.envs import make_task_env
    from skill_rl.runs import start_run

    from .execute import ExecConfig, SkillSet, run_plan
    from .search import SearchConfig
    from .tasklang import load_task

    if cfg.debug:
        cfg.render_size = (96, 128)
        cfg.video_every = 4
    if cfg.heuristic not in ("h_add", "goal_count"):
        raise UserError(f"heuristic must be h_add or goal_count, got {cfg.heuristic!r}")
    spec = load_task(cfg.goal)
    from .goals import parse_targets

    state_goal = parse_targets(cfg.targets) if cfg.targets else None
    if cfg.scene_only and state_goal is None:
        raise UserError("--scene-only ignores the task file's goal, so give a state goal with --target OBJECT=X,Y")
    goal_atoms = () if cfg.scene_only else spec.goal
    skills = SkillSet(_library(cfg.skills))
    want_video = cfg.video and ("MUJOCO_GL" in os.environ or "DISPLAY" in os.environ)
    env = make_task_env(spec, render_mode="rgb_array" if want_video else None, render_size=tuple(cfg.render_size))
    frames: list[Any] = []
    count = [0]

    def on_step(e: Any, _obs: Any) -> None:
        count[0] += 1
        if want_video and count[0] % cfg.video_every == 0:
            frames.append(e.render())

    search = SearchConfig(beam_width=cfg.beam_width, max_depth=cfg.max_depth, max_expansions=cfg.max_expansions,
                          heuristic=cfg.heuristic, seed=cfg.seed)
    learned = {}
    if cfg.learn_effects > 0:
        skills.learn_effects(env, seeds=range(100_000, 100_000 + cfg.learn_effects))
        learned = skills.learn_report
    with start_run(cfg.runs_root, f"plan-{spec.name}", cfg) as run:
        obs, _ = env.reset(seed=cfg.seed)
        if want_video:
            frames.append(env.render())
        trace = run_plan(env, obs, goal_atoms, skills, search=search, config=ExecConfig(max_decisions=cfg.max_decisions),
                         on_step=on_step, inject=inject, state_goal=state_goal)
        trace.update({"task": spec.name, "language": spec.language, "seed": cfg.seed,
                      "skills": str(cfg.skills or "(scripted primitives)"), "learned_effects": learned})
        for i, t in enumerate(trace["planning_time_s"]):
            run.metrics.log({"plan/planning_time_ms": 1000 * t}, step=i)
        run.metrics.log({"plan/success": float(trace["success"]), "plan/env_steps": trace["env_steps"],
                         "plan/replans": trace["replans"]}, step=0)
        from skill_rl.runs import atomic_write_text

        trace_path = run.path / "trace.json"
        atomic_write_text(trace_path, json.dumps(trace, indent=2, default=str))
        video_path = None
        video_error = None if want_video else (
            "no OpenGL backend: set MUJOCO_GL=osmesa (CPU) or egl" if cfg.video else "disabled (--no-video)")
        if want_video and cfg.video:
            from skill_rl.envs.video import write_video

            try:
                video_path = str(write_video(frames, run.subdir("videos") / "plan.mp4", fps=20 / cfg.video_every))
            except Exception as exc:  # noqa: BLE001 - the plan's result matters more than its film
                video_error = f"{type(exc).__name__}: {exc}"
        first_plan = trace["decisions"][0]["plan"] if trace["decisions"] else []
        summary = {
            "task": spec.name, "success": trace["success"], "outcome": trace["outcome"], "reason": trace["reason"],
            "plan": first_plan, "executed": [d["step"] for d in trace["decisions"]],
            "env_steps": trace["env_steps"], "replans": trace["replans"], "failures": trace["failures"],
            "planning_time_ms": [1000 * t for t in trace["planning_time_s"]],
            "trace": str(trace_path), "video": video_path, "video_error": video_error, "run_dir": str(run.path),
            "config": asdict(cfg),
        }
        run.write_summary(summary)
    env.close()
    return summary
