"""Rollouts of a library skill from varied starts, and whether each one succeeded (no torch)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from skill_rl.errors import UserError
from skill_rl.library import SkillEntry

__all__ = ["Params", "SkillRollouts", "StartFn", "collect_rollouts", "default_success"]

Params = dict[str, Any] | Callable[[Any, np.random.Generator], dict[str, Any]]
StartFn = Callable[[Any, np.random.Generator, Any], Any]


class SkillRollouts(NamedTuple):
    """Rollouts of one skill: start and end observations ``[N, D]``, success ``[N]`` (bool), steps ``[N]``,
    and the argument binding of each rollout."""

    start: np.ndarray
    end: np.ndarray
    success: np.ndarray
    steps: np.ndarray
    params: list[dict[str, Any]]


def _state(obs: Any) -> np.ndarray:
    return np.asarray(obs["state"] if isinstance(obs, dict) else obs, dtype=np.float32)


def collect_rollouts(
    entry: SkillEntry, env: Any, n_rollouts: int, *, params: Params | None = None, budget: int | None = None,
    seed: int = 0, wander_steps: int = 10, success_fn: Callable[[Any, dict], bool] | None = None,
    success_atoms: Sequence[tuple[str, ...]] | None = None, start_fn: StartFn | None = None, progress: bool = False,
) -> SkillRollouts:
    """Run ``entry`` ``n_rollouts`` times in ``env`` from varied starts; record start/end states and success.

    Starts vary by the env's seeded reset, by ``start_fn(env, rng, obs) -> obs`` if given (e.g. run another
    skill first, as a plan would), and by 0..``wander_steps`` random end-effector moves before the skill
    starts (so the gripper does not always start at home). Each rollout runs until the primitive says
    ``done`` or after ``budget`` steps (default: the primitive's ``horizon``). Success is ``success_fn(env,
    info)``, else all ``success_atoms`` holding (``skill_rl.envs.tabletop.predicates``), else
    :func:`default_success`. ``params`` binds the skill's arguments, or samples a binding per rollout.
    """
    if n_rollouts < 1:
        raise UserError(f"n_rollouts must be >= 1, got {n_rollouts}")
    rng = np.random.default_rng(seed)
    starts, ends, success, steps, bindings = [], [], [], [], []
    iterator = range(n_rollouts)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"rollouts {entry.key}", unit="rollout")
    for i in iterator:
        obs, info = env.reset(seed=seed + i)
        if start_fn is not None:
            obs = start_fn(env, rng, obs)
        for _ in range(int(rng.integers(0, wander_steps + 1))):
            action = np.zeros(env.action_space.shape, dtype=np.float32)
            action[:3] = rng.uniform(-1, 1, size=3)
            action[-1] = -1.0  # gripper open: move, do not grab
            obs, _, terminated, truncated, info = env.step(action)
        binding = dict(params(env, rng) if callable(params) else (params or {}))
        primitive = entry.load(env, **binding)
        primitive.reset()
        start = _state(obs)
        limit = int(budget if budget is not None else getattr(primitive, "horizon", 100))
        k = 0
        while k < limit and not primitive.done(obs):
            obs, _, terminated, truncated, info = env.step(primitive.act(obs))
            k += 1
            if terminated or truncated:
                break
        if success_fn is not None:
            ok = success_fn(env, info)
        elif success_atoms:
            ok = _atoms_hold(env, success_atoms)
        else:
            ok = default_success(entry, binding, env, info, obs)
        starts.append(start)
        ends.append(_state(obs))
        success.append(bool(ok))
        steps.append(k)
        bindings.append(binding)
    return SkillRollouts(np.stack(starts), np.stack(ends), np.asarray(success), np.asarray(steps), bindings)


def _atoms_hold(env: Any, atoms: Sequence[Sequence[str]]) -> bool:
    from skill_rl.envs.tabletop.predicates import holds

    return all(holds(env.unwrapped, tuple(a)) for a in atoms)


def default_success(entry: SkillEntry, binding: dict[str, Any], env: Any, info: dict[str, Any],
                    obs: Any = None) -> bool:
    """Did the skill do its job? A skill that implements a catalog primitive (every scripted one): the catalog's
    check of the call (its declared effects hold; ``push`` to a point: the object's centre within 3 cm;
    ``reach``: the grip site within 2 cm). Anything else: the env's ``info["is_success"]``. ``obs``: the env's
    current observation (default: read from the env)."""
    if entry.implements is not None:
        from skill_rl.library.catalog import primitive, scene_kinds
        from skill_rl.library.primitives import split_params

        name, _ = entry.implements
        call, _ = split_params(entry, binding, scene_kinds(env))
        state = obs if obs is not None else env.unwrapped._observation()
        verdict = primitive(name).succeeded(env, state, call)
        if verdict is not None:
            return verdict
    return bool(info.get("is_success", False))
