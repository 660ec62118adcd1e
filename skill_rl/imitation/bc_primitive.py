"""A BC primitive from scripted demos, in one call: record, train, evaluate, export, store in the library.

::

    res = train_bc_primitive("TabletopPickPlace-v0", "pick_place", {"obj": "cube", "target": "region"},
                             demos=100, steps=18000, seed=0, library=SkillLibrary(root), name=None,
                             out_dir="runs")
    res.success_rate, res.entry.key          # e.g. 0.9, "bc_pick_place_cube_region@1"
    lib.get(res.entry.name).load(env)        # a Skill: the planner uses it as one more pick_place(cube, region)

1. **Demos.** The catalog's scripted primitive for the call (:func:`~skill_rl.library.make_scripted`) runs
   closed-loop from ``demos`` different reset seeds; only episodes where the catalog's success check of the
   call holds are kept, trimmed a few steps after it first holds. With ``action_noise`` > 0 the *executed*
   motion is perturbed while the *recorded* action stays the intended one (DART), so the demos show recoveries.
2. **Training.** The imitation core's recipe (:class:`~skill_rl.imitation.policy.BCPolicy` defaults: MLP
   2 x 256, normalised inputs, history 2, Gaussian head; :func:`~skill_rl.imitation.train.fit`: AdamW with a
   cosine schedule, batch 32), seeded, on ``threads`` torch threads (1: a small MLP on a shared 2-core
   machine gains nothing from more).
3. **Export.** TorchScript of the acting part only (normaliser, MLP, the head's mode): ``forward(obs[B, H, D])
   -> action[B, A]``; the library's ``bc`` loader keeps the last H observations (``params["history"]``).
4. **Evaluation** of the exported file through the library loader (the code path the planner and the ROS
   skill server run) on ``eval_episodes`` held-out reset seeds; success = the catalog's check, every step.
5. **Store** with :func:`~skill_rl.library.add_bc_policy` (``implements`` the call, every argument bound,
   ``metrics["success_rate"]``: the planner's prior), and a run folder: config.yaml, metrics.csv, policy.pt,
   summary.json (success rate, wall-clock per stage).

Starts: a primitive whose effect already holds at reset (``close_drawer`` in a world whose drawer starts closed)
first gets its :data:`PRELUDES` call, run by the catalog's scripted primitive and not recorded, in the demos and
in the evaluation alike; a plan runs it after that call too.

Seeds: demos reset with ``DEMO_SEED_BASE + SEED_STRIDE * seed + i``, evaluation with ``EVAL_SEED_BASE +
SEED_STRIDE * seed + r``: never the same scene. The env's own ``max_episode_steps`` truncation is ignored: a
primitive's budget is its horizon (as when the planner runs it).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from skill_rl.errors import UserError
from skill_rl.library import BadParamsError, SkillEntry, SkillLibrary, add_bc_policy, make_scripted, primitive
from skill_rl.library.catalog import scene_kinds

from .data import DemoSet
from .heads import HEADS
from .policy import BCConfig, BCPolicy
from .train import FitConfig, fit

__all__ = ["CORE_RECIPE", "DEBUG_BUDGET", "BCPrimitiveConfig", "BCPrimitiveError", "BCPrimitiveResult", "export_acting_policy", "make_world",
           "PRELUDES", "PRIMITIVE_RECIPES", "parse_param", "recipe_for", "record_primitive_demos", "run_prelude", "train_bc_primitive"]

DEMO_SEED_BASE = 100_000_000
EVAL_SEED_BASE = 200_000_000
SEED_STRIDE = 10_000  # seeds per training seed: demo attempts and evaluation episodes must stay below it
MAX_ATTEMPTS_FACTOR = 3  # scripted attempts allowed per demo wanted
TAIL_STEPS = 5  # steps recorded after the success check first holds
#: ``skill-rl skills train-bc --debug`` and the benchmark's ``--debug``: a smoke run of seconds.
DEBUG_BUDGET: dict[str, int] = {"demos": 4, "steps": 200, "eval_episodes": 3}
#: Per primitive, the recipe fields measured best where they differ from the core's (:data:`CORE_RECIPE`).
#: ``push``: the scripted push's action turns sharply beside the cube, where a Gaussian learns the average (a zero)
#: and stops; a mixture keeps the modes, and 200 demos cover more of the turn: 94 % over 3 seeds against 79 %
#: (88 % with 100 demos; ``bc_push_diagnosis.json``).
PRIMITIVE_RECIPES: dict[str, dict[str, Any]] = {"push": {"head": "gmm", "action_noise": 0.05, "demos": 200}}
#: What a primitive without an entry in :data:`PRIMITIVE_RECIPES` trains with.
CORE_RECIPE: dict[str, Any] = {"head": "gaussian", "action_noise": 0.1, "demos": 100}


class BCPrimitiveError(UserError, ValueError):
    """A BC primitive cannot be trained as asked (world, demos, budget); the message says why."""


@dataclass
class BCPrimitiveConfig:
    """Everything a :func:`train_bc_primitive` run used (saved as the run's config.yaml)."""

    world: str = "TabletopPickPlace-v0"
    primitive: str = "pick_place"
    params: dict[str, Any] = field(default_factory=lambda: {"obj": "cube", "target": "region"})
    demos: int = 100
    steps: int = 18000
    seed: int = 0
    name: str = ""
    library: str = ""
    eval_episodes: int = 20
    action_noise: float = 0.1
    horizon: int = 0  # 0: the scripted primitive's horizon
    threads: int = 1
    batch_size: int = 32
    history: int = 2
    head: str = "gaussian"  # the core's action head (skill_rl.imitation.heads.HEADS)
    moved_starts: float = 0.5  # share of demos and evaluation episodes that start after a reach to a random point
    focus: bool = True  # the policy sees only the robot's fields and those of the objects the call names


@dataclass
class BCPrimitiveResult:
    """What a run produced: the stored ``entry`` (None without a library), the held-out ``success_rate`` over
    ``eval_successes``, the exported ``policy_path`` in ``run_dir``, and the summary written there."""

    entry: SkillEntry | None
    success_rate: float
    eval_successes: list[bool]
    policy_path: Path
    run_dir: Path
    summary: dict[str, Any]


def parse_param(text: str) -> tuple[str, Any]:
    """``"obj=cube"`` -> ``("obj", "cube")``; values are YAML (``target_xy=[0.1, 0.2]``, ``speed=0.3``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise BCPrimitiveError(f"parameter {text!r} must be key=value, e.g. obj=cube")
    try:
        parsed = yaml.safe_load(value) if value.strip() else value
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


def make_world(world: str) -> Any:
    """The env of ``world``: a registered id (``TabletopPickPlace-v0``, with or without ``skill_rl/``) or a
    task file (``*.task``, read by the planner's task language)."""
    from skill_rl import envs

    path = Path(world)
    if world.endswith(".task") or path.is_file():
        if not path.is_file():
            raise BCPrimitiveError(f"task file {world} does not exist")
        from skill_rl.planning.tasklang import load_task

        return envs.make_task_env(load_task(path))
    try:
        return envs.make(world)
    except KeyError as exc:
        raise BCPrimitiveError(f"world {world!r}: {exc.args[0]} (or give a *.task file)") from None


def _check_call(env: Any, world: str, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The validated call (every argument bound) in ``env``'s scene; errors name the world and what is wrong."""
    spec = primitive(name)  # UnknownSkillError lists the catalog
    try:
        kinds = scene_kinds(env)
    except AttributeError:
        raise BCPrimitiveError(f"world {world!r} is not a tabletop scene; the catalog's primitives need one") from None
    try:
        call = spec.validate(dict(params), kinds)
    except BadParamsError as exc:
        raise BadParamsError(f"in world {world} (objects: "
                             f"{', '.join(f'{k} ({v})' for k, v in kinds.items())}): {exc}") from None
    obs, _ = env.reset(seed=0)
    if spec.succeeded(env, obs, call) is None:
        raise BCPrimitiveError(f"{spec.name}{tuple(call.values())} declares no effect or success check, so "
                               f"demos cannot be told from failures")
    return call


#: Where a moved start puts the grip point (m, world): above the table around its centre, gripper open. In a
#: plan a primitive starts where the previous one left the arm (e.g. retreated above a region), not at reset.
MOVED_START_LOW, MOVED_START_HIGH = (-0.2, -0.25, 0.08), (0.2, 0.25, 0.3)


def ignored_fields(layout: Mapping[str, slice], call: Mapping[str, Any]) -> tuple[list[str], list[int]]:
    """The observation fields a primitive call does not look at, and their indices: everything but the robot's
    own fields and those of the objects the call names. Why: a policy that sees every object of the scene learns
    from demos in which the other objects never moved, and then fails when they have (measured: a lift of the red
    cube, 20/20 on its held-out episodes, hovered without closing in 13/20 plans after the blue cube had been put
    in the region, benchmarks/results/pipeline.json). The policy's normaliser zeroes ignored inputs."""
    from skill_rl.envs.layout import ROBOT_FIELDS

    keep = {name for name, _ in ROBOT_FIELDS}
    objects = [v for v in call.values() if isinstance(v, str)]
    names = [f for f in layout if f not in keep and not any(f.startswith(f"{o}_") for o in objects)]
    index = [i for f in names for i in range(layout[f].start, layout[f].stop)]
    return names, index


#: primitive -> the call (name, {param: which of the primitive's params to copy}) that makes a sensible start
#: for it, run unrecorded before each demo and evaluation episode. Why: ``close_drawer`` from a closed drawer is
#: a demo of nothing (its check holds at step 0); in a plan it follows ``open_drawer``.
PRELUDES: dict[str, tuple[str, dict[str, str]]] = {"close_drawer": ("open_drawer", {"drawer": "drawer"})}


def run_prelude(env: Any, obs: Any, primitive_name: str, call: Mapping[str, Any]) -> Any:
    """Run ``primitive_name``'s :data:`PRELUDE <PRELUDES>` (if any) with the scripted primitive; returns the
    observation. Raises :class:`BCPrimitiveError` if the prelude's own check does not hold afterwards."""
    if primitive_name not in PRELUDES:
        return obs
    pre_name, mapping = PRELUDES[primitive_name]
    pre_call = {k: call[v] for k, v in mapping.items()}
    skill = make_scripted(env, pre_name, **pre_call)
    skill.reset()
    for _ in range(skill.horizon):
        obs, *_ = env.step(skill.act(obs))
        if skill.done(obs):
            break
    if not primitive(pre_name).succeeded(env, obs, pre_call):
        raise BCPrimitiveError(f"the start of {primitive_name}: the scripted {pre_name}{tuple(pre_call.values())} "
                               f"did not succeed, so there is nothing to {primitive_name}")
    return obs


def move_arm_to_a_random_start(env: Any, obs: Any, rng: np.random.Generator) -> Any:
    """Run the scripted ``reach`` to a random point above the table (not recorded); returns the observation.
    Why: demos that all start at the reset posture teach nothing about starting elsewhere, and a planner starts
    a skill wherever the previous step ended (measured: a lift learned from reset starts succeeded 10/20 after a
    pick_place, in benchmarks/results/pipeline.json)."""
    xyz = rng.uniform(MOVED_START_LOW, MOVED_START_HIGH)
    reach = make_scripted(env, "reach", xyz=[float(v) for v in xyz])
    reach.reset()
    for _ in range(60):
        obs, *_ = env.step(reach.act(obs))
        if reach.done(obs):
            break
    return obs


def record_primitive_demos(env: Any, name: str, call: Mapping[str, Any], n: int, *, seed: int = 0,
                           horizon: int | None = None, action_noise: float = 0.1, progress: bool = False,
                           moved_starts: float = 0.0) -> tuple[DemoSet, dict[str, Any]]:
    """``n`` successful scripted demos of ``name(**call)`` as a :class:`DemoSet` (history ``2``; rebuild for
    others with :meth:`DemoSet.from_arrays`) and stats (attempts, lengths, seeds). Raises
    :class:`BCPrimitiveError` if the scripted primitive fails on more than 2/3 of its attempts."""
    from tqdm.auto import tqdm

    spec = primitive(name)
    obs_rows, act_rows, lengths, seeds = [], [], [], []
    attempts, max_attempts = 0, n * MAX_ATTEMPTS_FACTOR
    rng = np.random.default_rng([seed, 1])
    bar = tqdm(total=n, desc=f"demos {name}", unit="demo", disable=not progress)
    while len(lengths) < n:
        if attempts >= max_attempts:
            bar.close()
            raise BCPrimitiveError(f"the scripted {name} succeeded on only {len(lengths)} of {attempts} attempts "
                                   f"(need {n}); check the world and the parameters")
        s = DEMO_SEED_BASE + SEED_STRIDE * seed + attempts
        attempts += 1
        obs, _ = env.reset(seed=s)
        try:
            obs = run_prelude(env, obs, name, call)
        except BCPrimitiveError:
            continue  # a failed prelude is a failed attempt
        if rng.random() < moved_starts:
            obs = move_arm_to_a_random_start(env, obs, rng)
        skill = make_scripted(env, name, **call)
        skill.reset()
        budget = horizon or skill.horizon
        ep_obs, ep_act, success_at = [], [], None
        for t in range(budget):
            action = np.asarray(skill.act(obs), np.float32)
            ep_obs.append(np.asarray(obs, np.float32))
            ep_act.append(action)
            executed = action
            if action_noise > 0:  # DART: perturb what is executed, record what was intended
                executed = action.copy()
                executed[:-1] = np.clip(executed[:-1] + rng.normal(0.0, action_noise, action.size - 1), -1.0, 1.0)
            obs, *_ = env.step(executed)
            if success_at is None and spec.succeeded(env, obs, call):
                success_at = t
            if success_at is not None and t - success_at >= TAIL_STEPS:
                break
        if success_at is None:
            continue
        obs_rows += ep_obs
        act_rows += ep_act
        lengths.append(len(ep_act))
        seeds.append(s)
        bar.update(1)
    bar.close()
    demos = DemoSet.from_arrays(np.stack(obs_rows), np.stack(act_rows), lengths, history=2)
    stats = {"demos": n, "attempts": attempts, "scripted_success_rate": n / attempts,
             "mean_length": float(np.mean(lengths)), "max_length": int(max(lengths)), "seeds": seeds}
    return demos, stats


class _Acting(nn.Module):
    """The acting part of a :class:`BCPolicy`: raw (B, H, D) history -> the head's mode (B, A)."""

    def __init__(self, model: BCPolicy) -> None:
        super().__init__()
        self.model = model

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.model.net.mode(self.model.params(obs))


def export_acting_policy(model: BCPolicy, path: str | os.PathLike[str]) -> Path:
    """Write ``model``'s acting part as TorchScript (``forward(obs[B, H, D]) -> action[B, A]``, deterministic;
    no optimiser, no training code), atomically; checked against the eager model on random histories."""
    import warnings

    from skill_rl.fileio import atomic_path

    cfg = model.cfg
    if cfg.goal_index is not None:
        raise BCPrimitiveError("export_acting_policy exports policies without a goal input")
    acting = _Acting(model).eval()
    gen = torch.Generator().manual_seed(0)
    scale = model.norm.std.detach().clone()
    example = model.norm.mean + scale * torch.randn(3, cfg.history, cfg.obs_dim, generator=gen)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about shape checks that are constant for this model
        traced = torch.jit.trace(acting, example, check_trace=False)
        for b in (1, 5):
            x = model.norm.mean + scale * torch.randn(b, cfg.history, cfg.obs_dim, generator=gen)
            if not torch.allclose(traced(x), acting(x), atol=1e-5):
                raise RuntimeError("the traced policy differs from the eager one")  # a bug, not bad input
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(traced, str(tmp))
    return path


def _default_name(name: str, call: Mapping[str, Any]) -> str:
    parts = [name] + [str(v) for v in call.values() if isinstance(v, str)]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", "bc_" + "_".join(parts))[:100]


def evaluate_entry(entry: SkillEntry, env: Any, seeds: list[int], progress: bool = False,
                   moved: list[bool] | None = None) -> list[bool]:
    """Run the stored skill from each reset seed for its horizon (after a reach to a random point where
    ``moved[i]``); success = its ``success(obs)`` (the catalog's check of the call it implements), checked after
    every step."""
    from tqdm.auto import tqdm

    skill = entry.load(env)
    out = []
    for i, s in enumerate(tqdm(seeds, desc="evaluate", unit="ep", disable=not progress)):
        obs, _ = env.reset(seed=s)
        if entry.implements is not None:
            obs = run_prelude(env, obs, *entry.implements)
        if moved is not None and moved[i]:
            obs = move_arm_to_a_random_start(env, obs, np.random.default_rng([s, 7]))
        skill.reset()
        ok = False
        for _ in range(skill.horizon):
            obs, *_ = env.step(skill.act(obs))
            if skill.success(obs):
                ok = True
                break
        out.append(ok)
    return out


def recipe_for(primitive: str, **given: Any) -> dict[str, Any]:
    """``head``, ``action_noise`` and ``demos`` for ``primitive``: those ``given`` (not None), else its
    :data:`PRIMITIVE_RECIPES` entry, else :data:`CORE_RECIPE`."""
    return {k: given[k] if given.get(k) is not None else PRIMITIVE_RECIPES.get(primitive, {}).get(k, v)
            for k, v in CORE_RECIPE.items()}


def train_bc_primitive(world: str, primitive: str, params: Mapping[str, Any], *, demos: int | None = None,
                       steps: int = 18000, seed: int = 0, library: SkillLibrary | str | os.PathLike[str] | None = None,
                       name: str | None = None, out_dir: str | os.PathLike[str] = "runs", eval_episodes: int = 20,
                       action_noise: float | None = None, horizon: int | None = None, threads: int = 1,
                       moved_starts: float = 0.5, history: int = 2, batch_size: int = 32, head: str | None = None,
                       progress: bool = True) -> BCPrimitiveResult:
    """Record scripted demos of ``primitive(**params)`` in ``world``, train the core's BC recipe on them,
    evaluate the exported policy on held-out seeds and store it in ``library`` as a ``bc`` entry implementing
    the call (see the module docstring). ``library=None``: only the run folder (``<out_dir>/<name>-<time>``)
    gets the policy. Bad input (unknown world or primitive, a parameter out of range or naming no object of the
    world) raises a :class:`~skill_rl.errors.UserError` naming it before anything is recorded. ``moved_starts``:
    the share of demos, and of evaluation episodes, that start after a reach to a random point above the table
    instead of the reset posture (a plan starts a skill where the last one ended). ``history``, ``batch_size`` and
    ``head``: the core's recipe (defaults: the recipe that learns the primitives). ``demos``, ``head`` and
    ``action_noise`` left at None are the primitive's (:func:`recipe_for`)."""
    from skill_rl.runs import start_run

    recipe = recipe_for(primitive, head=head, action_noise=action_noise, demos=demos)
    head, action_noise, demos = str(recipe["head"]), float(recipe["action_noise"]), int(recipe["demos"])

    if demos < 1 or steps < 1 or eval_episodes < 1:
        raise BCPrimitiveError(f"demos, steps and eval_episodes must be >= 1, got {demos}, {steps}, {eval_episodes}")
    if history < 1 or batch_size < 1 or head not in HEADS:
        raise BCPrimitiveError(f"history and batch_size must be >= 1 and head one of {', '.join(sorted(HEADS))}; "
                               f"got {history}, {batch_size}, {head!r}")
    if not 0.0 <= action_noise <= 1.0:  # (NaN fails this too)
        raise BCPrimitiveError(f"action_noise must be in [0, 1] (std of the executed actions' noise), got {action_noise}")
    if demos * MAX_ATTEMPTS_FACTOR > SEED_STRIDE or eval_episodes > SEED_STRIDE or not 0 <= seed < 10_000:
        raise BCPrimitiveError(f"at most {SEED_STRIDE // MAX_ATTEMPTS_FACTOR} demos and {SEED_STRIDE} evaluation "
                               f"episodes, and a seed in [0, 10000)")
    lib = library if isinstance(library, SkillLibrary) or library is None else SkillLibrary(library)
    env = make_world(world)
    try:
        call = _check_call(env, world, primitive, params)
        name = name or _default_name(primitive, call)
        if lib is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", name):
            raise BCPrimitiveError(f"invalid skill name {name!r}: letters, digits, '_', '-', '.'")
        budget = int(horizon or make_scripted(env, primitive, **call).horizon)
        cfg = BCPrimitiveConfig(world=world, primitive=primitive, params=dict(call), demos=demos, steps=steps,
                                seed=seed, name=name, library=str(lib.root) if lib is not None else "",
                                eval_episodes=eval_episodes, action_noise=action_noise, horizon=budget, threads=threads,
                                moved_starts=float(moved_starts), history=history, batch_size=batch_size, head=head)
        old_threads = torch.get_num_threads()
        torch.set_num_threads(max(1, threads))
        try:
            with start_run(out_dir, name, cfg, tensorboard=False) as run:
                summary, entry = _run(env, cfg, call, lib, run, progress)
        finally:
            torch.set_num_threads(old_threads)
    finally:
        env.close()
    return BCPrimitiveResult(entry, summary["success_rate"], summary["eval_successes"], Path(summary["policy"]),
                             Path(summary["run_dir"]), summary)


def _run(env: Any, cfg: BCPrimitiveConfig, call: dict[str, Any], lib: SkillLibrary | None, run: Any,
         progress: bool) -> tuple[dict[str, Any], SkillEntry | None]:
    t0 = time.perf_counter()
    demo_set, stats = record_primitive_demos(env, cfg.primitive, call, cfg.demos, seed=cfg.seed, horizon=cfg.horizon,
                                             action_noise=cfg.action_noise, progress=progress,
                                             moved_starts=cfg.moved_starts)
    t_demos = time.perf_counter() - t0
    if cfg.history != 2:
        demo_set = DemoSet.from_arrays(demo_set.obs, demo_set.actions, np.diff(demo_set.episode_ends, prepend=0),
                                       cfg.history)
    run.metrics.log({"demos/attempts": stats["attempts"], "demos/mean_length": stats["mean_length"]}, step=0)

    torch.manual_seed(cfg.seed)
    ignored, ignore_index = ignored_fields(env.unwrapped.obs_layout, call) if cfg.focus else ([], [])
    model = BCPolicy(BCConfig(obs_dim=demo_set.obs.shape[1], act_dim=demo_set.actions.shape[1], history=cfg.history,
                              head=cfg.head, ignore_index=ignore_index or None))
    model.set_normaliser(demo_set.obs.mean(0), demo_set.obs.std(0))
    fit_cfg = FitConfig(steps=cfg.steps, batch_size=cfg.batch_size, seed=cfg.seed, log_every=max(1, min(500, cfg.steps)))
    t1 = time.perf_counter()
    trained = fit(model, demo_set.sample, fit_cfg, progress=progress, desc=f"bc {cfg.primitive}",
                  on_log=lambda step, vals: run.metrics.log({f"train/{k}": v for k, v in vals.items()}, step=step))
    t_train = time.perf_counter() - t1
    policy_path = export_acting_policy(model, run.path / "policy.pt")

    t2 = time.perf_counter()
    seeds = [EVAL_SEED_BASE + SEED_STRIDE * cfg.seed + r for r in range(cfg.eval_episodes)]
    description = (f"BC from {cfg.demos} scripted demos in {cfg.world}, {cfg.steps} steps, seed {cfg.seed}")
    metrics: dict[str, Any] = {"demos": cfg.demos, "steps": cfg.steps, "seed": cfg.seed}
    with tempfile.TemporaryDirectory(prefix="bc-eval-") as tmp:  # evaluate the very file, through the loader
        scratch = add_bc_policy(SkillLibrary(tmp), cfg.name, policy_path, env, implements=cfg.primitive, bound=call,
                                horizon=cfg.horizon, history=cfg.history, metrics=metrics)
        moved = [i < round(cfg.moved_starts * len(seeds)) for i in range(len(seeds))]
        successes = evaluate_entry(scratch, env, seeds, progress=progress, moved=moved)
    t_eval = time.perf_counter() - t2
    rate = float(np.mean(successes))
    metrics.update(success_rate=rate, eval_episodes=len(successes))
    run.metrics.log({"eval/success_rate": rate}, step=cfg.steps)
    entry = None
    if lib is not None:
        entry = add_bc_policy(lib, cfg.name, policy_path, env, implements=cfg.primitive, bound=call,
                              horizon=cfg.horizon, history=cfg.history, metrics=metrics, description=description)
    summary = {
        "entry": entry.key if entry is not None else None, "library": cfg.library or None,
        "world": cfg.world, "primitive": cfg.primitive, "params": call, "success_rate": rate,
        "eval_episodes": len(successes), "eval_successes": successes, "eval_seeds": [seeds[0], seeds[-1]],
        "eval_moved_starts": moved,
        "success_rate_reset_starts": float(np.mean([ok for ok, m in zip(successes, moved, strict=True) if not m]))
        if not all(moved) else None,
        "success_rate_moved_starts": float(np.mean([ok for ok, m in zip(successes, moved, strict=True) if m]))
        if any(moved) else None,
        "demos": {k: v for k, v in stats.items() if k != "seeds"}, "demo_seeds": [stats["seeds"][0], stats["seeds"][-1]],
        "train": {"steps": trained["steps"], "final": trained["final"], "first": trained["first"],
                  "demo_steps": len(demo_set), "parameters": sum(p.numel() for p in model.parameters()),
                  "policy": model.cfg.to_dict(), "fit": fit_cfg.to_dict()},
        "wall_s": {"demos": round(t_demos, 2), "train": round(t_train, 2), "eval": round(t_eval, 2),
                   "total": round(time.perf_counter() - t0, 2)},
        "horizon": cfg.horizon, "threads": cfg.threads, "action_noise": cfg.action_noise, "policy": str(policy_path),
        "run_dir": str(run.path),
        "ignored_fields": ignored,
    }
    run.write_summary(summary)
    return summary, entry
