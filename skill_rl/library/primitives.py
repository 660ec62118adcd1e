"""Turning a stored skill into a runnable primitive: ``reset()``, ``act(obs) -> action``, ``done(obs)``, ``horizon``.

Learned kinds load TorchScript only (``torch.jit.load``), so no training code is imported:

* ``slim``: ``policy.pt`` with ``forward(obs[B, obs_dim], z[B, z_dim]) -> action[B, act_dim]``; ``params["z"]``.
* ``play_lmp``: ``proposal.pt`` ``forward(obs[B, D], goal[B, D]) -> z[B, z_dim]`` (the plan's mean) and
  ``policy.pt`` ``forward(obs[B, D], goal[B, D], z[B, z_dim]) -> action[B, A]``; a goal observation is needed
  (``params["goal"]`` or ``load(env, goal=...)``); re-plans every ``replan_every`` steps (default 20).
* ``bc``: ``policy.pt`` ``forward(obs[B, D]) -> action[B, A]`` (or ``forward(obs, goal)`` when a goal is given).

Learned primitives run for ``params["horizon"]`` steps (default 50): ``done`` is true after that.
Scripted kinds are built by ``skill_rl.envs.tabletop.primitives.make_primitive(env, primitive, **args)``.
torch is imported only here, and only when a learned skill is loaded.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .spec import SpecMismatchError, check_spec
from .store import CorruptLibraryError, LibraryError

if TYPE_CHECKING:
    from .store import SkillEntry

__all__ = ["OBJECT_ARGS", "TorchPolicyPrimitive", "check_fits", "load_primitive", "load_torchscript"]

DEFAULT_HORIZON = 50
#: Scripted-primitive arguments that name an object of the scene (checked against the env's fields).
OBJECT_ARGS = ("obj", "target", "drawer", "object", "region", "target_xy")


def _state(obs: Any) -> np.ndarray:
    """The flat state vector of an observation (``state+image`` observations are dicts)."""
    if isinstance(obs, dict):
        obs = obs["state"]
    return np.asarray(obs, dtype=np.float32)


def load_torchscript(path: Path, what: str) -> Any:
    """``torch.jit.load`` on CPU in eval mode, with a clear error for a file that is not TorchScript."""
    import torch

    try:
        with warnings.catch_warnings():  # torch >= 2.9 flags TorchScript as deprecated; it is still our format
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # RuntimeError for pickles / truncated zips, ValueError, ...
        raise CorruptLibraryError(f"skill {what}: {path.name} is not a loadable TorchScript file ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else ''}); save learned parts with "
                                  f"torch.jit.save(torch.jit.script(module), path)") from None
    return module.eval()


def _scene_objects(env: Any) -> list[str]:
    layout = getattr(env.unwrapped, "obs_layout", {})
    return sorted({n[: -len("_pos")] for n in layout if n.endswith("_pos") and n not in ("eef_pos", "joint_pos",
                                                                                              "goal_pos")}
                  | {n[: -len("_opening")] for n in layout if n.endswith("_opening")})


def check_fits(entry: SkillEntry, env: Any, params: dict[str, Any]) -> None:
    """Refuse (``SpecMismatchError``) an env whose specs differ, or a scripted binding to absent objects."""
    check_spec(entry.key, entry.obs_spec, entry.action_spec, env)
    if entry.kind != "scripted":
        return
    args = {**entry.params.get("bound", {}), **params}
    objects = _scene_objects(env)
    for key in OBJECT_ARGS:
        value = args.get(key)
        if isinstance(value, str) and value not in objects:
            raise SpecMismatchError(f"skill {entry.key}: {key}={value!r} is not an object of this scene; "
                                    f"objects: {', '.join(objects) or 'none'}")


def load_primitive(entry: SkillEntry, env: Any, params: dict[str, Any]) -> Any:
    """The primitive for ``entry`` in ``env`` (see the module docstring); checks the specs first."""
    if entry.kind == "scripted":
        return _load_scripted(entry, env, params)
    check_fits(entry, env, params)
    merged = {**entry.params, **params}
    return TorchPolicyPrimitive(entry, merged)


def _load_scripted(entry: SkillEntry, env: Any, params: dict[str, Any]) -> Any:
    allowed = list(entry.params.get("args", []))
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise LibraryError(f"skill {entry.key} takes arguments {', '.join(allowed) or '(none)'}; got unknown "
                           f"{', '.join(unknown)}")
    args = {**entry.params.get("bound", {}), **params}
    missing = [a for a in allowed if a not in args]
    if missing:
        raise LibraryError(f"skill {entry.key} needs argument(s) {', '.join(missing)}, e.g. "
                           f"entry.load(env, {', '.join(f'{m}=...' for m in missing)})")
    check_fits(entry, env, params)
    try:
        from skill_rl.envs.tabletop.primitives import make_primitive
    except ImportError as exc:
        raise LibraryError(f"skill {entry.key} is a scripted primitive, which needs skill_rl.envs.tabletop.primitives "
                           f"(not importable: {exc})") from None
    try:
        return make_primitive(env, str(entry.params.get("primitive", entry.name)), **args)
    except (KeyError, ValueError) as exc:  # bad binding (e.g. a region as obj): say which skill refused it
        raise LibraryError(f"skill {entry.key}: {exc.args[0] if exc.args else exc}") from None


class TorchPolicyPrimitive:
    """A learned skill as a primitive: deterministic TorchScript policy, fixed step budget ``horizon``.

    ``act(obs)`` takes one observation (flat vector, or a ``state+image`` dict) and returns a float32 action
    clipped to the skill's action bounds.
    """

    def __init__(self, entry: SkillEntry, params: dict[str, Any]) -> None:
        import torch

        self._torch = torch
        self.entry = entry
        self.name = entry.name
        self.kind = entry.kind
        self.params = params
        self.horizon = int(params.get("horizon", DEFAULT_HORIZON))
        self.replan_every = max(1, int(params.get("replan_every", 20)))
        self.low = np.asarray(entry.action_spec.low, dtype=np.float32)
        self.high = np.asarray(entry.action_spec.high, dtype=np.float32)
        self.policy = load_torchscript(entry.file("policy.pt"), entry.key)
        self.proposal = load_torchscript(entry.file("proposal.pt"), entry.key) if entry.kind == "play_lmp" else None
        obs_dim = int(entry.obs_spec.dim or 0)
        self.z = self.goal = None
        if entry.kind == "slim":
            if "z" not in params:
                raise LibraryError(f"skill {entry.key} is a SLIM skill without a latent: params need 'z'")
            self.z = torch.as_tensor(np.asarray(params["z"], dtype=np.float32).reshape(1, -1))
        if "goal" in params and params["goal"] is not None:
            goal = np.asarray(params["goal"], dtype=np.float32).reshape(1, -1)
            if goal.shape[1] != obs_dim:
                raise LibraryError(f"skill {entry.key}: goal has {goal.shape[1]} values, observations have {obs_dim}")
            self.goal = torch.as_tensor(goal)
        if entry.kind == "play_lmp" and self.goal is None:
            raise LibraryError(f"skill {entry.key} is a Play-LMP skill: give a goal observation, "
                               f"entry.load(env, goal=obs_goal) (or store params['goal'])")
        self.reset()
        # A dry run catches a policy whose sizes do not match the stored specs now, not mid-episode.
        probe = self._forward(np.zeros(obs_dim, dtype=np.float32))
        if probe.shape != (entry.action_spec.dim,):
            raise SpecMismatchError(f"skill {entry.key}: policy.pt returns {probe.shape} actions, the spec says "
                                    f"({entry.action_spec.dim},)")
        self.reset()

    def reset(self) -> None:
        self.steps = 0
        self._plan = None

    def _forward(self, state: np.ndarray) -> np.ndarray:
        torch = self._torch
        obs = torch.as_tensor(state.reshape(1, -1))
        with torch.no_grad():
            try:
                if self.kind == "slim":
                    action = self.policy(obs, self.z)
                elif self.kind == "play_lmp":
                    if self._plan is None or self.steps % self.replan_every == 0:
                        assert self.proposal is not None  # loaded in __init__ for play_lmp entries
                        self._plan = self.proposal(obs, self.goal)
                    action = self.policy(obs, self.goal, self._plan)
                elif self.goal is not None:
                    action = self.policy(obs, self.goal)
                else:
                    action = self.policy(obs)
            except RuntimeError as exc:
                raise SpecMismatchError(f"skill {self.entry.key}: its TorchScript policy failed on a "
                                        f"{tuple(obs.shape)} observation: {str(exc).splitlines()[0]}") from None
        return action.reshape(-1).cpu().numpy().astype(np.float32)

    def act(self, obs: Any) -> np.ndarray:
        action = self._forward(_state(obs))
        self.steps += 1
        return np.clip(action, self.low, self.high)

    def done(self, obs: Any) -> bool:
        return self.steps >= self.horizon

    def __repr__(self) -> str:
        return f"TorchPolicyPrimitive({self.entry.key}, kind={self.kind}, horizon={self.horizon})"
