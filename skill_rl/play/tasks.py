"""Named goal-reaching tasks in the play scene, for evaluating goal-conditioned policies learned from play.

A task (:class:`PlayTask`) has a name, a start condition, a scripted success and a success predicate:

- **start**: the play scene reset from a seed (:func:`make_play_env`; the drawer's opening can be set per
  task, e.g. open for "close the drawer"), accepted only if :func:`start_ok` says the task makes sense
  there (objects upright and reachable, the push target free and on the table, the goal not already met).
- **goal state**: the observation at the end of a scripted success from that start (the player's own
  primitives from :mod:`skill_rl.play.player`, run without noise); a start whose scripted attempt fails is
  skipped, so every episode's goal is a reachable state.
- **success**: every goal atom holds (``envs/tabletop/predicates.py``: ``Lifted``, ``On``, ``In``, ``Open``,
  ``Close``...), and for relative goals ("push left") the object moved at least ``min_displacement_m``
  along ``direction`` from where it started.

Directions are in the world frame seen from the robot: x forward (away from the base), y left.

::

    env = make_play_env()
    episodes = sample_episodes(TASKS["stack_red_on_blue"], env, n=5, seed=0)
    ok = rollout(TASKS["stack_red_on_blue"], env, episodes[0], policy)["success"]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skill_rl.envs.tabletop.play import FREE_OBJECTS, Play
from skill_rl.envs.tabletop.predicates import evaluate, holds

from .player import SPOT_HIGH, SPOT_LOW, DrawerPrim, LiftPrim, PlacePrim, PushPrim, ReachPrim

__all__ = ["TASKS", "PlayTask", "TaskEpisode", "make_play_env", "rollout", "sample_episodes", "start_ok",
           "task_success"]

Atom = tuple[str, ...]


@dataclass(frozen=True)
class PlayTask:
    """One goal-reaching task in the play scene (see the module docstring)."""

    name: str
    language: str
    script: str  # scripted success: push | lift | place | stack | open | close
    goal: tuple[Atom, ...] = ()  # predicates.py atoms that must all hold
    obj: str = ""  # the object moved (push, lift, place, stack)
    onto: str = ""  # stack: the object below; place: the region
    direction: tuple[float, float] | None = None  # push: unit xy direction; success needs the displacement
    min_displacement_m: float = 0.05  # push: displacement along ``direction`` for success
    push_distance_m: float = 0.10  # push: how far the scripted success pushes
    start_opening: tuple[float, float] | None = None  # drawer opening range at the start (m); None = play's
    stop_on_success: bool = False  # goal = first state where the goal holds (lift: the object is held up)
    horizon: int = 200  # evaluation steps per episode (10 s at 20 Hz)
    script_budget: int = 300  # steps the scripted success may take


def _push(name: str, obj: str, direction: tuple[float, float], words: str) -> PlayTask:
    return PlayTask(name, f"push the {words}", "push", (("OnTable", obj),), obj=obj, direction=direction)


TASKS: dict[str, PlayTask] = {
    t.name: t
    for t in (
        _push("push_red_left", "cube_red", (0.0, 1.0), "red cube left"),
        _push("push_red_right", "cube_red", (0.0, -1.0), "red cube right"),
        _push("push_red_forward", "cube_red", (1.0, 0.0), "red cube forward"),
        _push("push_blue_left", "cube_blue", (0.0, 1.0), "blue cube left"),
        _push("push_blue_right", "cube_blue", (0.0, -1.0), "blue cube right"),
        PlayTask("lift_red", "lift the red cube", "lift", (("Lifted", "cube_red"),), obj="cube_red",
                 stop_on_success=True),
        PlayTask("lift_blue", "lift the blue cube", "lift", (("Lifted", "cube_blue"),), obj="cube_blue",
                 stop_on_success=True),
        PlayTask("stack_red_on_blue", "stack the red cube on the blue cube", "stack",
                 (("On", "cube_red", "cube_blue"),), obj="cube_red", onto="cube_blue"),
        PlayTask("stack_blue_on_red", "stack the blue cube on the red cube", "stack",
                 (("On", "cube_blue", "cube_red"),), obj="cube_blue", onto="cube_red"),
        PlayTask("red_in_region", "put the red cube in the green region", "place", (("In", "cube_red", "region"),),
                 obj="cube_red", onto="region"),
        PlayTask("blue_in_region", "put the blue cube in the green region", "place",
                 (("In", "cube_blue", "region"),), obj="cube_blue", onto="region"),
        PlayTask("cylinder_in_region", "put the yellow cylinder in the green region", "place",
                 (("In", "cylinder", "region"),), obj="cylinder", onto="region"),
        PlayTask("open_drawer", "open the drawer", "open", (("Open", "cabinet"),), start_opening=(0.0, 0.015)),
        PlayTask("close_drawer", "close the drawer", "close", (("Close", "cabinet"),),
                 start_opening=(0.13, 0.15)),
    )
}


class TaskPlay(Play):
    """The play scene with an optional drawer opening range at reset (set ``start_opening`` before reset)."""

    start_opening: tuple[float, float] | None = None

    def randomize(self, env: Any, rng: np.random.Generator) -> None:
        super().randomize(env, rng)
        if self.start_opening is not None:
            m = env.model
            env.data.qpos[m.jnt_qposadr[m.joint("cabinet_slide").id]] = rng.uniform(*self.start_opening)


def make_play_env(render_mode: str | None = None, **options: Any) -> Any:
    """A play-scene env (same objects and observation layout as ``TabletopPlay-v0``) for task episodes."""
    from skill_rl.envs.tabletop.base import TabletopConfig, TabletopEnv

    config = options.pop("config", None) or TabletopConfig()
    for key, value in options.items():
        if not hasattr(config, key):
            raise TypeError(f"unknown tabletop env option {key!r}")
        setattr(config, key, value)
    return TabletopEnv(TaskPlay(), config=config, render_mode=render_mode)


# ------------------------------------------------------------------------------------------ predicates
def _keepout(env: Any) -> tuple[np.ndarray, np.ndarray]:
    from skill_rl.envs.tabletop.play import cabinet_keepout

    return cabinet_keepout(env.body_pos("cabinet")[:2])


def _free_spot(env: Any, xy: np.ndarray, margin: float = 0.0) -> bool:
    low, high = _keepout(env)
    in_table = bool(np.all(xy >= SPOT_LOW + margin) and np.all(xy <= SPOT_HIGH - margin))
    return in_table and not bool(np.all(xy >= low) and np.all(xy <= high))


def _upright(env: Any, obj: str) -> bool:
    q = env.body_quat(obj)
    return bool(1 - 2 * (q[1] ** 2 + q[2] ** 2) > 0.95)


def start_ok(task: PlayTask, env: Any) -> bool:
    """Whether the env's current state is a sensible start for ``task`` (and its goal does not hold yet)."""
    if task_success(task, env, _start_record(env)):
        return False
    if task.obj:
        if not (holds(env, ("OnTable", task.obj)) and _upright(env, task.obj)
                and _free_spot(env, env.body_pos(task.obj)[:2])):
            return False
    if task.script == "push":
        start = env.body_pos(task.obj)[:2]
        d = np.asarray(task.direction)
        end = start + (task.push_distance_m + 0.02) * d
        behind = start - 0.06 * d  # room for the gripper behind the object
        if not (_free_spot(env, end, 0.01) and _free_spot(env, behind)):
            return False
        for other in FREE_OBJECTS:  # nothing in the way: the swept segment stays 7 cm from other objects
            if other == task.obj:
                continue
            p = env.body_pos(other)[:2]
            t = np.clip(np.dot(p - start, d), -0.06, task.push_distance_m + 0.02)
            if np.linalg.norm(p - (start + t * d)) < 0.07:
                return False
    if task.script == "stack" and not (holds(env, ("OnTable", task.onto)) and _upright(env, task.onto)):
        return False
    return True


def _start_record(env: Any) -> dict[str, np.ndarray]:
    return {o: env.body_pos(o).copy() for o in FREE_OBJECTS}


def task_success(task: PlayTask, env: Any, start: dict[str, np.ndarray]) -> bool:
    """Every goal atom holds and (push tasks) the object moved ``min_displacement_m`` along ``direction``."""
    if task.goal and not all(evaluate(env, task.goal).values()):
        return False
    if task.direction is not None:
        moved = env.body_pos(task.obj)[:2] - start[task.obj][:2]
        if float(np.dot(moved, np.asarray(task.direction))) < task.min_displacement_m:
            return False
    return True


# ------------------------------------------------------------------------------------------ scripted success
def scripted_primitive(task: PlayTask, env: Any) -> Any:
    """The player's primitive that achieves ``task`` from the env's current state (noise-free)."""
    args = (env.obs_layout, env.config.max_ee_step_m, env.config.max_ee_rot_rad)
    if task.script == "push":
        goal = env.body_pos(task.obj)[:2] + task.push_distance_m * np.asarray(task.direction)
        return PushPrim(*args, task.obj, np.array([*goal, 0.0]))
    if task.script == "lift":
        return LiftPrim(*args, task.obj, env.body_pos(task.obj)[:2].copy(), 0.16, 1000)
    if task.script == "stack":
        return PlacePrim(*args, task.obj, None, onto=task.onto)
    if task.script == "place":
        return PlacePrim(*args, task.obj, env.body_pos(task.onto)[:2].copy())
    if task.script in ("open", "close"):
        opening = env.joint_pos("cabinet_slide")
        return DrawerPrim(*args, target=0.15 if task.script == "open" else 0.0, opening_now=opening)
    raise ValueError(f"unknown script {task.script!r} in task {task.name!r}")


@dataclass
class TaskEpisode:
    """One evaluation episode: the start (env reset seed) and the goal observation of a scripted success."""

    task: str
    seed: int
    goal_obs: np.ndarray
    start_obs: np.ndarray
    scripted_steps: int
    info: dict[str, Any] = field(default_factory=dict)


def reset_task(task: PlayTask, env: Any, seed: int) -> np.ndarray:
    """Reset ``env`` to ``task``'s start scene for ``seed``; returns the observation."""
    env.task.start_opening = task.start_opening
    obs, _ = env.reset(seed=int(seed))
    return obs


def scripted_success(task: PlayTask, env: Any, seed: int) -> TaskEpisode | None:
    """Run the scripted success from ``seed``'s start; the episode (with its goal) or None if it failed."""
    obs = reset_task(task, env, seed)
    if not start_ok(task, env):
        return None
    start_obs, start = obs.copy(), _start_record(env)
    prim = scripted_primitive(task, env)
    for t in range(task.script_budget):
        obs, *_ = env.step(np.clip(prim.act(obs), -1, 1).astype(np.float32))
        if task.stop_on_success and task_success(task, env, start):
            return TaskEpisode(task.name, int(seed), obs.copy(), start_obs, t + 1)
        if prim.finished(obs):
            break
    if task.stop_on_success or not task_success(task, env, start):
        return None
    return TaskEpisode(task.name, int(seed), obs.copy(), start_obs, t + 1)


def task_seed(task: PlayTask, seed: int, k: int) -> int:
    """The k-th candidate reset seed of ``task`` for evaluation seed ``seed`` (disjoint across tasks)."""
    return int(seed) * 1_000_000 + (list(TASKS).index(task.name) if task.name in TASKS else 99) * 10_000 + k


def sample_episodes(task: PlayTask, env: Any, n: int, seed: int = 0, max_tries: int | None = None
                    ) -> list[TaskEpisode]:
    """``n`` episodes of ``task``: candidate seeds in order, kept when the start is valid and the scripted
    success reaches the goal. Raises RuntimeError if fewer than ``n`` are found in ``max_tries`` candidates."""
    max_tries = max_tries or max(100, 40 * n)  # push starts are valid for ~1 seed in 8
    out: list[TaskEpisode] = []
    tried = 0
    for k in range(max_tries):
        tried += 1
        ep = scripted_success(task, env, task_seed(task, seed, k))
        if ep is not None:
            out.append(ep)
            if len(out) == n:
                break
    if len(out) < n:
        raise RuntimeError(f"task {task.name}: only {len(out)} of {n} episodes found in {tried} candidate seeds")
    for ep in out:
        ep.info["candidates_tried"] = tried
    return out


# ------------------------------------------------------------------------------------------ rollouts
def perturb(env: Any, obs: np.ndarray, rng: np.random.Generator, distance_m: float, steps: int = 40
            ) -> np.ndarray:
    """Move the gripper (open, scripted reach) to a random point ``distance_m`` from where it is, kept above
    the objects (z in [0.15, 0.3]) and over the table: the perturbed start of the paper's robustness test."""
    eef = env.eef_pos()
    for _ in range(100):
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        target = eef + distance_m * d
        if np.all(target[:2] >= SPOT_LOW) and np.all(target[:2] <= SPOT_HIGH) and 0.15 <= target[2] <= 0.3:
            break
    target = np.array([*np.clip(target[:2], SPOT_LOW, SPOT_HIGH), np.clip(target[2], 0.15, 0.3)])
    prim = ReachPrim(env.obs_layout, env.config.max_ee_step_m, env.config.max_ee_rot_rad, target, 0.0, -1.0)
    for _ in range(steps):
        obs, *_ = env.step(prim.act(obs))
        if prim.finished(obs):
            break
    return obs


def rollout(task: PlayTask, env: Any, episode: TaskEpisode, policy: Any, *, horizon: int | None = None,
            perturb_m: float = 0.0, rng: np.random.Generator | None = None, render: bool = False,
            act: Callable[[np.ndarray], np.ndarray] | None = None) -> dict[str, Any]:
    """Run ``policy`` (``reset()`` + ``act(obs, goal)``) from ``episode``'s start towards its goal observation.

    Success is checked after every step (the episode ends at the first success). ``perturb_m`` > 0 first
    moves the gripper away by that distance. Returns ``success``, ``steps``, ``progress`` (see
    :func:`goal_progress`, at the end), the phases ``reach_m`` and ``moved_m`` (see :class:`PhaseTracker`) and,
    with ``render``, ``frames``.
    """
    rng = rng or np.random.default_rng(episode.seed)
    obs = reset_task(task, env, episode.seed)
    start = _start_record(env)
    start_obs = obs.copy()
    if perturb_m > 0:
        obs = perturb(env, obs, rng, perturb_m)
    phases = PhaseTracker(task, env.obs_layout, obs)  # from where the policy takes over: its own doing only
    frames = [env.render()] if render else []
    if policy is not None:
        policy.reset()
    horizon = horizon or task.horizon
    success, steps = False, 0
    for _ in range(horizon):
        steps += 1
        if act is not None:
            action = act(obs)
        else:
            action = policy.act(obs.astype(np.float32), episode.goal_obs)
        obs, *_ = env.step(np.asarray(action, np.float32))
        phases.update(obs)
        if render:
            frames.append(env.render())
        if task_success(task, env, start):
            success = True
            break
    progress = goal_progress(task, env.obs_layout, start_obs, obs, episode.goal_obs)
    return {"success": success, "steps": steps, "progress": progress, "reach_m": phases.reach_m,
            "moved_m": phases.moved_m, "frames": frames}


REACHED_M = 0.05  # grip site within 5 cm of the task's object (or the drawer handle): "reached"
MOVED_M = 0.01  # the object (or the drawer opening) moved more than 1 cm from its start: "moved"


class PhaseTracker:
    """Where a failed episode stopped, in two phases before success: did the gripper *reach* the task's object
    (the drawer tasks: its handle), and did the object (the drawer) *move*? ``reach_m`` is the closest grip-site
    distance to it over the episode, ``moved_m`` its largest displacement from the start (m); compare with
    :data:`REACHED_M` / :data:`MOVED_M`. A policy that heads for the right object and hovers there reaches but
    does not move it; binary success and goal progress cannot tell that from wandering off."""

    def __init__(self, task: PlayTask, layout: dict[str, slice], start_obs: np.ndarray) -> None:
        self._eef = layout["eef_pos"]
        self._target = layout[f"{task.obj}_pos" if task.obj else "cabinet_handle_pos"]
        self._moving = layout[f"{task.obj}_pos" if task.obj else "cabinet_opening"]
        self._start = np.asarray(start_obs[self._moving], dtype=np.float64).copy()
        self.reach_m, self.moved_m = np.inf, 0.0
        self.update(start_obs)

    def update(self, obs: np.ndarray) -> None:
        self.reach_m = min(self.reach_m, float(np.linalg.norm(obs[self._eef] - obs[self._target])))
        self.moved_m = max(self.moved_m, float(np.linalg.norm(obs[self._moving] - self._start)))


def goal_progress(task: PlayTask, layout: dict[str, slice], start_obs: np.ndarray, obs: np.ndarray,
                  goal_obs: np.ndarray) -> float:
    """How much of the way to the goal the task's object (or the drawer) went: 1 - d_end / d_start, where d is
    the distance of the object's position (drawer: its opening) to the goal observation's; 1 = at the goal,
    0 = no closer than at the start, < 0 = farther (clipped at -1). A graded signal next to binary success."""
    key = f"{task.obj}_pos" if task.obj else "cabinet_opening"
    sl = layout[key]
    d0 = float(np.linalg.norm(start_obs[sl] - goal_obs[sl]))
    d1 = float(np.linalg.norm(obs[sl] - goal_obs[sl]))
    return float(max(1.0 - d1 / max(d0, 1e-6), -1.0))
