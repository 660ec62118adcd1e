"""Turning a stored skill into a runnable :class:`~skill_rl.library.skill.Skill`: ``reset()``, ``act(obs)``,
``done(obs)``, ``success(obs)``, ``horizon``, ``params``, ``param_specs``.

Learned kinds load TorchScript only (``torch.jit.load``), so no training code is imported:

* ``slim``: ``policy.pt`` with ``forward(obs[B, obs_dim], z[B, z_dim]) -> action[B, act_dim]``; ``params["z"]``.
* ``play_lmp``: ``proposal.pt`` ``forward(obs[B, D], goal[B, D]) -> z[B, z_dim]`` (the plan's mean) and
  ``policy.pt`` ``forward(obs[B, D], goal[B, D], z[B, z_dim]) -> action[B, A]``; a goal observation is needed
  (``params["goal"]`` or ``load(env, goal=...)``); re-plans every ``replan_every`` steps (default 20).
* ``bc``: ``policy.pt`` ``forward(obs[B, D]) -> action[B, A]`` (or ``forward(obs, goal)`` when a goal is given);
  with ``params["history"]`` = H > 1 it takes the last H observations, ``obs[B, H, D]`` oldest first: the
  skill keeps them (``reset()`` forgets them; the first frame after a reset fills the whole history, the
  padding the imitation core trains with).

Learned skills run for ``params["horizon"]`` steps (default 50): ``done`` is true after that, or as soon as the
effects hold for an entry that implements a catalog primitive (``params["implements"]``, unless
``params["stop_on_success"]`` is false). Scripted kinds are the catalog's primitives
(:class:`~skill_rl.library.skill.ScriptedSkill`). torch is imported only here, and only when a learned skill
is loaded.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .catalog import BadParamsError, ParamSpec, object_param_names, primitive, scene_kinds
from .spec import SpecMismatchError, check_spec
from .store import CorruptLibraryError, LibraryError

if TYPE_CHECKING:
    from .store import SkillEntry

__all__ = [
    "OBJECT_ARGS", "TorchPolicyPrimitive", "check_fits", "load_primitive", "load_torchscript", "split_params",
]

DEFAULT_HORIZON = 50
#: Primitive parameters that can name an object of the scene (from the catalog).
OBJECT_ARGS = object_param_names()


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


def split_params(entry: SkillEntry, params: dict[str, Any], kinds: dict[str, str] | None = None
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(call, rest)``: the primitive call this entry makes with ``params`` (validated by the catalog against
    the scene ``kinds`` when given; empty for entries that implement no primitive) and the other load
    parameters (a learned policy's ``goal``, ``horizon``, ...). Raises ``BadParamsError`` naming the problem.

    Scripted entries take their primitive's parameters (stored ``bound`` ones may be overridden); a learned
    entry that implements a primitive is bound to all of them, so a parameter given at load must repeat its
    bound value.
    """
    implements = entry.implements
    if implements is None:
        return {}, dict(params)
    name, bound = implements
    spec = primitive(name)
    if entry.kind == "scripted":
        return spec.validate({**bound, **params}, kinds), {}
    own = {k: v for k, v in params.items() if k in spec.arg_names}
    wanted, fixed = spec.validate(own, kinds, partial=True), spec.validate(bound, kinds, partial=True)
    for k, v in wanted.items():
        if k in own and v != fixed.get(k):
            raise BadParamsError(f"skill {entry.key} implements {spec.signature()} with {k}={fixed.get(k)!r} bound; "
                                 f"it cannot run with {k}={own[k]!r}")
    call = spec.validate(bound, kinds)
    return call, {k: v for k, v in params.items() if k not in spec.arg_names}


def check_fits(entry: SkillEntry, env: Any, params: dict[str, Any]) -> None:
    """Refuse an env whose specs differ (``SpecMismatchError``) or a primitive call that is invalid in its scene
    (``BadParamsError``: unknown objects, wrong kinds, values out of range)."""
    check_spec(entry.key, entry.obs_spec, entry.action_spec, env)
    if entry.implements is not None:
        try:
            kinds = scene_kinds(env)
        except AttributeError:
            raise SpecMismatchError(f"skill {entry.key} calls a scripted primitive, which needs a tabletop scene "
                                    f"(env.unwrapped.task.objects)") from None
        try:
            split_params(entry, params, kinds)
        except BadParamsError as exc:
            raise BadParamsError(f"skill {entry.key}: {exc}") from None


def param_specs_of(entry: SkillEntry) -> tuple[ParamSpec, ...]:
    """The declared load parameters of ``entry``: its primitive's (not yet bound) ones, or a learned kind's."""
    if entry.implements is not None:
        name, bound = entry.implements
        return tuple(p for p in primitive(name).params if entry.kind == "scripted" or p.name not in bound)
    if entry.kind in ("play_lmp", "bc"):
        dim = int(entry.obs_spec.dim or 0)
        return (ParamSpec("goal", "vector", "goal observation (the env's observation vector)", size=dim, frame="",
                          required=entry.kind == "play_lmp" and "goal" not in entry.params),)
    return ()


def load_primitive(entry: SkillEntry, env: Any, params: dict[str, Any]) -> Any:
    """The :class:`~skill_rl.library.skill.Skill` for ``entry`` in ``env``; checks the specs and parameters first."""
    check_fits(entry, env, params)
    call, rest = split_params(entry, params, scene_kinds(env) if entry.implements is not None else None)
    if entry.kind == "scripted":
        from .skill import ScriptedSkill

        name, _ = entry.implements  # type: ignore[misc]  # scripted entries always implement their primitive
        try:
            return ScriptedSkill(primitive(name), env, call, name=entry.name)
        except ImportError as exc:
            raise LibraryError(f"skill {entry.key} is a scripted primitive, whose mechanics are not importable "
                               f"({exc})") from None
    merged = {**entry.params, **rest}
    return TorchPolicyPrimitive(entry, merged, env=env, call=call)


class TorchPolicyPrimitive:
    """A learned skill as a primitive: deterministic TorchScript policy, fixed step budget ``horizon``.

    ``act(obs)`` takes one observation (flat vector, or a ``state+image`` dict) and returns a float32 action
    clipped to the skill's action bounds.
    """

    def __init__(self, entry: SkillEntry, params: dict[str, Any], env: Any = None,
                 call: dict[str, Any] | None = None) -> None:
        import torch

        self._torch = torch
        self.entry = entry
        self.env = env
        self.name = entry.name
        self.kind = entry.kind
        self.params = dict(call) if call else {k: v for k, v in params.items() if k == "goal"}
        self.param_specs = param_specs_of(entry)
        self.implements = primitive(entry.implements[0]) if entry.implements is not None else None
        self.call = dict(call or {})
        self.stop_on_success = bool(params.get("stop_on_success", True))
        self.horizon = int(params.get("horizon", DEFAULT_HORIZON))
        self.replan_every = max(1, int(params.get("replan_every", 20)))
        self.history = int(params.get("history", 1)) if entry.kind == "bc" else 1
        if self.history < 1:
            raise LibraryError(f"skill {entry.key}: params['history'] must be >= 1, got {self.history}")
        self._frames: np.ndarray | None = None
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
        self._frames = None

    def _stacked(self, state: np.ndarray) -> np.ndarray:
        """``state`` (D,) as the policy's input: (1, D), or the last ``history`` frames (1, H, D) oldest first."""
        if self.history == 1:
            return state.reshape(1, -1)
        if self._frames is None or self._frames.shape[1] != state.size:
            self._frames = np.repeat(state.reshape(1, -1), self.history, axis=0)
        else:
            self._frames = np.concatenate([self._frames[1:], state.reshape(1, -1)])
        return self._frames[None].copy()

    def _forward(self, state: np.ndarray) -> np.ndarray:
        torch = self._torch
        obs = torch.as_tensor(self._stacked(state))
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
        if self.steps >= self.horizon:
            return True
        return bool(self.stop_on_success and self.steps > 0 and self.success(obs))

    def success(self, obs: Any) -> bool | None:
        """The implemented primitive's check (its declared effects hold in the env), else None."""
        if self.implements is None or self.env is None:
            return None
        return self.implements.succeeded(self.env, obs, self.call)

    def __repr__(self) -> str:
        return f"TorchPolicyPrimitive({self.entry.key}, kind={self.kind}, horizon={self.horizon})"
