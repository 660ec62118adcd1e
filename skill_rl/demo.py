"""The end-to-end demo: the stack's one path, from scripted demos to the (simulated) arm, in a few minutes.

``skill-rl demo`` is a thin wrapper around :func:`run_demo`. On the world of a task file (default
``place_then_lift.task``: put the blue cube in the region, then lift the red cube) it walks five stages:

1. **scripted demos** of one catalog call (default ``lift(obj=cube_red)``), recorded by
   :func:`~skill_rl.imitation.bc_primitive.train_bc_primitive`; one scripted run is filmed;
2. **BC primitive**: that function trains the imitation core's BC policy on them and evaluates the exported
   file on held-out episodes (the success rate); one held-out episode is filmed;
3. **library**: the policy is stored in ``<run>/library`` beside the scripted primitives *except* the one it
   learned, so a plan that needs that call must use the learned entry;
4. **plan in simulation**: the task planned over that library and executed in process with monitoring and
   replanning (:func:`skill_rl.planning.execute.run_plan`), filmed;
5. **over ROS 2** (``ros: auto``: when the ``ros`` extra and the interfaces are there): the simulated graph
   on the same library and world, the task sent as a ``RunTask`` goal, the graph stopped; the arm's motion is
   filmed by replaying the recorded ``/joint_states`` + ``/object_states`` through a kinematic copy of the
   task env (:class:`~skill_rl.library.perception.KinematicScene`). Nothing outside ``skill_rl.ros`` imports
   it (import-linter contract), so this stage runs ``python -m skill_rl.ros.demo_stage`` as a process.

The run folder gets ``config.yaml``, ``metrics.csv`` + TensorBoard (per stage), ``videos/``, ``library/``,
``bc/`` (the BC run), ``plan/trace.json``, ``ros/`` (result, recorded perception, node logs) and
``summary.json`` (per stage: result, seconds, video; and the overall success).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import UserError
from .runs import start_run

log = logging.getLogger(__name__)

#: Stage ids (summary.json keys, metric prefixes) and their titles, in order.
STAGES = {"demos": "scripted demos", "bc": "BC primitive", "library": "library", "plan": "plan in simulation",
          "ros": "over ROS 2"}
#: ``--debug``: a smoke run of the whole path (the learned skill will rarely work at this budget).
DEBUG_BUDGET: dict[str, Any] = {"demos": 8, "bc_steps": 300, "eval_episodes": 3}
VIDEO_SIZE = (240, 320)  # height, width of every demo video
PLAN_VIDEO_EVERY = 2  # keep every n-th frame of the planned run (10 fps of a 20 Hz control loop)
TAIL_STEPS = 5  # frames filmed after a skill's success check first holds


@dataclass
class DemoConfig:
    """Settings of ``skill-rl demo`` (``configs/demo.yaml`` writes these defaults out)."""

    # Task file (a path, or the name of one shipped with skill_rl): its scene is the world of every stage,
    # its goal the task planned in stages 4 and 5.
    task: str = "place_then_lift.task"
    primitive: str = "lift"  # the catalog primitive the BC policy learns
    params: dict[str, Any] = field(default_factory=lambda: {"obj": "cube_red"})  # its arguments, all bound
    skill_name: str = "lift_red_bc"  # the learned entry's library name (stored as <skill_name>@v1)
    demos: int = 60  # successful scripted demos
    bc_steps: int = 6000  # gradient steps
    eval_episodes: int = 20  # held-out episodes for the BC success rate
    seed: int = 0  # demos, training and the held-out evaluation
    # The scene placement of the planned task, in simulation and on the ROS arm (0: as `skill-rl plan` and
    # `skill-rl ros up` place it by default).
    plan_seed: int = 0
    ros: Literal["auto", True, False] = "auto"  # stage 5: auto = run it when ROS 2 is usable here
    ros_timeout_s: float = 300.0  # cancel the task on the ROS graph after this long
    video: bool = True  # film each stage to videos/*.mp4 (skipped if offscreen rendering fails)
    run_root: str = "runs"  # runs go to <run_root>/<run_name>-<timestamp>/
    run_name: str = "demo"
    debug: bool = False  # tiny budgets: 8 demos, 300 steps, 3 evaluation episodes


class DemoError(UserError, ValueError):
    """The demo cannot start with this config (missing task file, bad primitive call, bad budgets)."""


def resolve_task(task: str) -> Path:
    """A task file: the path itself, else a task shipped with skill_rl of that name (works outside a checkout)."""
    from skill_rl.planning.tasklang import shipped_task

    path = Path(task)
    if path.is_file():
        return path.resolve()
    shipped = shipped_task(path)
    if shipped is None:
        raise DemoError(f"task file {task} not found (nor a task of that name shipped with skill_rl)")
    return shipped


def _check(cfg: DemoConfig) -> None:
    for key in ("demos", "bc_steps", "eval_episodes"):
        if getattr(cfg, key) < 1:
            raise DemoError(f"demo config: {key!r} must be at least 1, got {getattr(cfg, key)}")
    if not cfg.ros_timeout_s > 0:
        raise DemoError(f"demo config: 'ros_timeout_s' must be positive, got {cfg.ros_timeout_s}")
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", cfg.skill_name):
        raise DemoError(f"demo config: invalid skill_name {cfg.skill_name!r}: letters, digits, '_', '-', '.'")


def _setup(cfg: DemoConfig) -> tuple[Path, Any, dict[str, Any]]:
    """The task file, its spec and the validated primitive call, before anything runs (bad input fails here)."""
    from skill_rl.envs import make_task_env
    from skill_rl.library import BadParamsError, primitive
    from skill_rl.library.catalog import scene_kinds
    from skill_rl.planning.tasklang import load_task

    path = resolve_task(cfg.task)
    spec = load_task(path)
    if not spec.goal:
        raise DemoError(f"task file {path} has no goal to plan for")
    env = make_task_env(spec)
    try:
        kinds = scene_kinds(env)
        try:
            call = primitive(cfg.primitive).validate(dict(cfg.params), kinds)
        except BadParamsError as exc:
            raise DemoError(f"demo config: {_call_text(cfg.primitive, cfg.params)} in {path.name}: {exc}") from None
    finally:
        env.close()
    return path, spec, call


def _render_probe(env: Any) -> str | None:
    """None if ``env`` can render a frame, else why not (no OpenGL backend, missing libOSMesa...)."""
    try:
        env.reset(seed=0)
        if env.render() is None:
            return "env.render() returned None"
    except Exception as exc:  # noqa: BLE001 - any GL failure means "no video", never "no demo"
        return f"{type(exc).__name__}: {exc}"
    return None


def _film_skill(env: Any, skill: Any, seed: int) -> tuple[list[Any], bool, int]:
    """Run ``skill`` from reset ``seed`` for its horizon (a few frames past its first success); frames, success,
    steps."""
    obs, _ = env.reset(seed=seed)
    skill.reset()
    frames = [env.render()]
    success_at = None
    t = 0
    for t in range(1, skill.horizon + 1):
        obs, *_ = env.step(skill.act(obs))
        frames.append(env.render())
        if success_at is None and skill.success(obs):
            success_at = t
        if success_at is not None and t - success_at >= TAIL_STEPS:
            break
    return frames, success_at is not None, success_at or t


class _Stage:
    """One stage's line in the summary: result text, ok (None: skipped), seconds, video."""

    def __init__(self, key: str) -> None:
        self.key, self.title = key, STAGES[key]
        self.t0 = time.perf_counter()
        self.record: dict[str, Any] = {"stage": self.title, "result": "", "ok": None, "seconds": 0.0, "video": None}

    def done(self, result: str, ok: bool | None, seconds: float | None = None, **details: Any) -> dict[str, Any]:
        """``seconds``: the stage's own time when it ran interleaved with others (default: since construction)."""
        taken = time.perf_counter() - self.t0 if seconds is None else seconds
        self.record.update(result=result, ok=ok, seconds=round(taken, 2), **details)
        return self.record


class _Videos:
    """Writes videos into the run's ``videos/`` unless rendering is off or broken (then keeps why)."""

    def __init__(self, run: Any, error: str | None) -> None:
        self.run, self.error = run, error

    @property
    def on(self) -> bool:
        return self.error is None

    def write(self, frames: list[Any], name: str, fps: float) -> str | None:
        from skill_rl.envs.video import write_video

        if not self.on or not frames:
            return None
        target = self.run.subdir("videos") / name
        try:
            write_video(frames, target, fps=fps)
        except Exception as exc:  # noqa: BLE001 - e.g. ffmpeg missing: keep the numbers, lose the video
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("could not write %s: %s", target, self.error)
            return None
        return str(target.relative_to(self.run.path))


def _call_text(name: str, call: dict[str, Any]) -> str:
    return f"{name}({', '.join(f'{k}={v}' for k, v in call.items())})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _short(text: str, n: int = 160) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _entry_step(step: str, skill: str) -> str:
    """``"lift(obj=cube_red)"`` run by ``"lift_red_bc@v1"`` -> ``"lift_red_bc(obj=cube_red)"`` (as the ROS side
    names plan steps): the line shows which entry ran each step."""
    name = skill.split("@", 1)[0]
    return name + step[step.index("("):] if "(" in step and name else step


def run_demo(cfg: DemoConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run the demo described by ``cfg``; return the summary (also written to ``<run>/summary.json``).

    The summary has ``run_dir``, ``task``, ``stages`` (id -> ``stage`` title, ``result`` text, ``ok``
    (None: skipped), ``seconds``, ``video`` (relative to the run folder, or None) and the stage's figures),
    ``success`` (the task's goal held in simulation and, when the ROS stage ran, on the arm), ``video_error``
    and ``elapsed_s``. Raises ``DemoError`` (or another ``UserError``) for bad input, before creating a run.
    """
    from skill_rl.envs import make_task_env

    if cfg.debug:
        cfg = dataclasses.replace(cfg, **DEBUG_BUDGET)
    _check(cfg)
    task_path, spec, call = _setup(cfg)
    t0 = time.perf_counter()
    stages: dict[str, dict[str, Any]] = {}
    env = make_task_env(spec, render_mode="rgb_array", render_size=VIDEO_SIZE) if cfg.video else None
    video_error = (_render_probe(env) if env is not None else "disabled (video=false)")
    if cfg.video and video_error:
        log.warning("offscreen rendering does not work here, so no videos: %s", video_error)
    try:
        with start_run(cfg.run_root, cfg.run_name, cfg) as run:
            videos = _Videos(run, video_error)
            lib, lib_s = _new_library(cfg, run)
            bc = _bc_stages(cfg, run, task_path, call, lib, env, videos, stages, progress)
            stages["library"] = _library_stage(cfg, lib, bc, lib_s)
            stages["plan"] = _plan_stage(cfg, run, spec, lib, env, videos, progress)
            stages["ros"] = _ros_stage(cfg, run, task_path, spec, lib, videos, progress)
            for i, (key, s) in enumerate(stages.items()):
                run.metrics.log({f"{key}/seconds": s["seconds"]}, step=i)
            ros_ok = stages["ros"]["ok"]
            summary = {
                "run_dir": str(run.path),
                "task": str(task_path),
                "call": _call_text(cfg.primitive, call),
                "entry": stages["library"].get("entry"),
                "library": str(lib.root),
                "stages": stages,
                "success": bool(stages["plan"]["ok"]) and ros_ok is not False,
                "video_error": videos.error,
                "elapsed_s": round(time.perf_counter() - t0, 2),
            }
            run.write_summary(summary)
    finally:
        if env is not None:
            env.close()
    return summary


def _new_library(cfg: DemoConfig, run: Any) -> tuple[Any, float]:
    """``<run>/library`` with every scripted primitive but ``cfg.primitive`` (the plan must use the learned one);
    returns it and the seconds it took."""
    from skill_rl.library import SkillLibrary, add_scripted_primitives
    from skill_rl.library.catalog import CATALOG

    t = time.perf_counter()
    lib = SkillLibrary(run.subdir("library"))
    add_scripted_primitives(lib, names=[n for n in CATALOG if n != cfg.primitive])
    return lib, time.perf_counter() - t


def _library_stage(cfg: DemoConfig, lib: Any, bc: Any, seconds: float) -> dict[str, Any]:
    """Stage 3's line: the learned entry, beside the scripted ones, read back from the library folder."""
    entries = [e.key for e in lib.list()]
    key = bc.entry.key if bc.entry is not None else None
    return _Stage("library").done(f"{key} beside {len(entries) - 1} scripted primitives (no scripted "
                                  f"{cfg.primitive})", key in entries,
                                  seconds=seconds, entry=key, entries=entries, path="library")


def _bc_stages(cfg: DemoConfig, run: Any, task_path: Path, call: dict[str, Any], lib: Any, env: Any,
               videos: _Videos, stages: dict[str, dict[str, Any]], progress: bool) -> Any:
    """Stages 1 and 2: ``train_bc_primitive`` records the demos, trains, evaluates and stores; then one scripted
    run (from the first demo's seed, without the DART noise the recorded demos carry) and one held-out
    episode of the stored policy are filmed."""
    from skill_rl.imitation.bc_primitive import train_bc_primitive
    from skill_rl.library import make_scripted

    res = train_bc_primitive(str(task_path), cfg.primitive, call, demos=cfg.demos, steps=cfg.bc_steps, seed=cfg.seed,
                             library=lib, name=cfg.skill_name, out_dir=run.subdir("bc"),
                             eval_episodes=cfg.eval_episodes, progress=progress)
    s = res.summary
    d, wall = s["demos"], s["wall_s"]
    _copy_bc_metrics(run, res.run_dir)
    run.metrics.log({"demos/count": d["demos"], "demos/attempts": d["attempts"],
                     "demos/scripted_success_rate": d["scripted_success_rate"], "demos/mean_length": d["mean_length"]},
                    step=0)
    run.metrics.log({"bc/success_rate": res.success_rate}, step=cfg.bc_steps)
    text = _call_text(cfg.primitive, call)

    demo_video = None
    t_film = time.perf_counter()
    if videos.on:
        frames, _, _ = _film_skill(env, make_scripted(env, cfg.primitive, **call), s["demo_seeds"][0])
        demo_video = videos.write(frames, "1_scripted_demo.mp4", fps=env.metadata.get("render_fps", 20))
    film_demo_s = time.perf_counter() - t_film
    stages["demos"] = _Stage("demos").done(
        f"{d['demos']} demos of scripted {text} ({d['attempts']} attempts, mean {d['mean_length']:.0f} steps)", True,
        seconds=wall["demos"] + film_demo_s, video=demo_video,
        demos=d["demos"], attempts=d["attempts"], scripted_success_rate=d["scripted_success_rate"],
        mean_length=d["mean_length"])

    bc_video, held_out = None, None
    t_film = time.perf_counter()
    if videos.on and res.entry is not None:
        frames, ok, steps = _film_skill(env, res.entry.load(env), s["eval_seeds"][0])
        held_out = {"seed": s["eval_seeds"][0], "success": ok, "steps": steps}
        bc_video = videos.write(frames, "2_bc_policy.mp4", fps=env.metadata.get("render_fps", 20))
    film_bc_s = time.perf_counter() - t_film
    n_ok = sum(s["eval_successes"])  # ok: at least half, the whole-path test's bar for a useful skill
    stages["bc"] = _Stage("bc").done(
        f"success {res.success_rate:.0%} ({n_ok}/{s['eval_episodes']} held-out episodes; {cfg.bc_steps} steps)",
        res.success_rate >= 0.5, seconds=wall["train"] + wall["eval"] + film_bc_s,
        video=bc_video, success_rate=res.success_rate, eval_episodes=s["eval_episodes"], steps=cfg.bc_steps,
        filmed_episode=held_out, bc_run=str(Path(s["run_dir"]).relative_to(run.path)))
    return res


def _copy_bc_metrics(run: Any, bc_dir: Path) -> None:
    """The BC run's training curve into the demo's metrics (and so its TensorBoard), under ``bc/``."""
    import csv

    path = Path(bc_dir) / "metrics.csv"
    if not path.is_file():
        return
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["tag"].startswith(("train/", "eval/")):
                run.metrics.log({f"bc/{row['tag']}": float(row["value"])}, step=int(row["step"]))


def _plan_stage(cfg: DemoConfig, run: Any, spec: Any, lib: Any, env: Any, videos: _Videos,
                progress: bool) -> dict[str, Any]:
    """Stage 4: plan the task over the library and execute it in process, with a progress bar over env steps."""
    from tqdm.auto import tqdm

    from skill_rl.envs import make_task_env
    from skill_rl.fileio import atomic_write_text
    from skill_rl.planning.execute import SkillSet, run_plan

    stage = _Stage("plan")
    sim = env if env is not None else make_task_env(spec)
    frames: list[Any] = []
    bar = tqdm(desc="plan", unit="step", disable=not progress, leave=True)
    count = [0]

    def on_step(e: Any, _obs: Any) -> None:
        count[0] += 1
        bar.update(1)
        if videos.on and count[0] % PLAN_VIDEO_EVERY == 0:
            frames.append(e.render())

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "step":
            bar.set_postfix_str(f"{data['step']} [{data['skill']}]")

    try:
        obs, _ = sim.reset(seed=cfg.plan_seed)
        if videos.on:
            frames.append(sim.render())
        trace = run_plan(sim, obs, spec.goal, SkillSet(lib), on_step=on_step, on_event=on_event)
    finally:
        bar.close()
        if sim is not env:
            sim.close()
    trace.update({"task": spec.name, "seed": cfg.plan_seed, "skills": str(lib.root)})
    atomic_write_text(run.subdir("plan") / "trace.json", json.dumps(trace, indent=2, default=str))
    run.metrics.log({"plan/success": float(trace["success"]), "plan/env_steps": trace["env_steps"],
                     "plan/replans": trace["replans"]}, step=0)
    decisions = trace["decisions"]
    plan = decisions[0]["plan"] if decisions else []
    executed = [_entry_step(d["step"], d["skill"]) for d in decisions]
    video = videos.write(frames, "4_plan.mp4", fps=20 / PLAN_VIDEO_EVERY)
    result = (f"{'success' if trace['success'] else trace['outcome']}: {' -> '.join(executed) or '(no step)'}; "
              f"{_count(trace['replans'], 'replan')}" + ("" if trace["success"] else f" ({_short(trace['reason'])})"))
    return stage.done(result, bool(trace["success"]), video=video, plan=plan, executed=executed,
                      skills_used=sorted({d["skill"] for d in decisions}), env_steps=trace["env_steps"],
                      replans=trace["replans"], outcome=trace["outcome"], reason=trace["reason"],
                      trace="plan/trace.json")


# --------------------------------------------------------------------------------------------- ROS 2
ROS_MILESTONES = ("graph_starting", "arm_active", "ready", "task_sent", "result", "stopped")


def _ros_stage(cfg: DemoConfig, run: Any, task_path: Path, spec: Any, lib: Any, videos: _Videos,
               progress: bool) -> dict[str, Any]:
    """Stage 5: the task on the simulated ROS 2 graph (``python -m skill_rl.ros.demo_stage``), then the video
    replayed from the perception it recorded."""
    stage = _Stage("ros")
    if cfg.ros is False:
        return stage.done("skipped: ros=false", None)
    if importlib.util.find_spec("rclpy") is None:
        why = "rclpy is not installed (the ros extra: pip install 'skill-rl[ros]')"
        return stage.done(f"{'failed' if cfg.ros is True else 'skipped'}: {why}", False if cfg.ros is True else None)
    out = run.subdir("ros")
    cmd = [sys.executable, "-m", "skill_rl.ros.demo_stage", "--task", str(task_path), "--library", str(lib.root),
           "--out", str(out), "--seed", str(cfg.plan_seed), "--timeout", str(cfg.ros_timeout_s)]
    rc, tail = _run_ros_process(cmd, out / "stage.log", cfg.ros_timeout_s + 300.0, progress)
    result_path = out / "result.json"
    if not result_path.is_file():
        return stage.done(f"failed: {' '.join(cmd[2:4])} exited with status {rc}: {tail}", False)
    res = json.loads(result_path.read_text(encoding="utf-8"))
    if res["status"] == "skipped":
        return stage.done(f"{'failed' if cfg.ros is True else 'skipped'}: {res['reason']}",
                          False if cfg.ros is True else None)
    if res["status"] != "ran":
        return stage.done(f"failed: {res['reason']} (node logs: ros/logs/)", False, stopped=res.get("stopped"))
    run.metrics.log({"ros/success": float(res["success"]), "ros/replans": res["replans"],
                     "ros/steps_run": res["steps_run"], "ros/task_s": res["task_s"]}, step=0)
    video = _ros_video(spec, out / "perception.json", videos)
    stopped = res.get("stopped") or {}
    clean = all(code is not None for code in stopped.values())
    text = (f"{res['code_name']}: {' -> '.join(res['plan']) or '(no plan)'}; {_count(res['replans'], 'replan')}; graph "
            f"{'stopped' if clean else 'NOT stopped'}")
    if not res["success"]:
        text += f" ({_short(res['message'])})"
    return stage.done(text, bool(res["success"]), video=video, code=res["code"], code_name=res["code_name"],
                      message=res["message"], plan=res["plan"], replans=res["replans"], steps_run=res["steps_run"],
                      skills_used=res["skills"], task_s=res["task_s"], stopped=stopped, frames=res["frames"])


def _run_ros_process(cmd: list[str], log_path: Path, timeout_s: float, progress: bool) -> tuple[int, str]:
    """Run the ROS stage's process; its JSON event lines drive a progress bar. Returns (exit status, the end of
    its stderr). Killed after ``timeout_s`` (its nodes die with it: the launcher's parent-death signal)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(ROS_MILESTONES), desc="ros", unit="event", disable=not progress, leave=True)
    with open(log_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        timer = threading.Timer(timeout_s, proc.kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                _on_ros_event(line, bar)
            rc = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            bar.close()
    tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
    return rc, " | ".join(tail)


def _on_ros_event(line: str, bar: Any) -> None:
    try:
        ev = json.loads(line)
    except json.JSONDecodeError:
        return
    kind = ev.get("event")
    if kind in ROS_MILESTONES:
        bar.update(1)
        bar.set_postfix_str(kind)
    elif kind == "feedback":
        bar.set_postfix_str(f"step {ev['step']}: {ev['skill']} {ev['phase']}"[:60])


def _ros_video(spec: Any, perception: Path, videos: _Videos) -> str | None:
    """What the arm did, replayed: each recorded perceived state poses a rendering copy of the task env."""
    from skill_rl.envs import make_task_env
    from skill_rl.library.perception import KinematicScene, PerceivedObject, PerceivedState

    if not videos.on or not perception.is_file():
        return None
    frames_data = json.loads(perception.read_text(encoding="utf-8"))["frames"]
    if not frames_data:
        return None
    scene = KinematicScene(make_task_env(spec, render_mode="rgb_array", render_size=VIDEO_SIZE))
    try:
        frames = []
        for f in frames_data:
            objects = tuple(PerceivedObject(**o) for o in f["objects"])
            scene.set_state(PerceivedState(f["joint_positions"], f["finger_positions"], objects,
                                           f.get("joint_velocities"), f.get("stamp")))
            frames.append(scene.env.render())
    finally:
        scene.env.close()
    stamps = [f["stamp"] for f in frames_data if f.get("stamp") is not None]
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    fps = (len(stamps) - 1) / span if span > 0 else 20.0
    return videos.write(frames, "5_ros.mp4", fps=min(max(fps, 1.0), 60.0))


def stage_rows(summary: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(stage, result, seconds, video) per stage, for the CLI's table."""
    return [(s["stage"], s["result"], f"{s['seconds']:.0f}", s["video"] or "-") for s in summary["stages"].values()]

