"""Worlds the monitored executor drives: the in-process simulation now, a ROS 2 graph through the same interface.

The executor (:func:`skill_rl.planning.execute.execute_plan`) plans and monitors; a :class:`World` perceives
and acts. A world

* says what is in the scene (``kinds()``: object name -> kind) and how its observation vector is laid out
  (``layout()``: field -> slice);
* perceives: ``observe()`` refreshes its view and returns the env's observation vector of the current state,
  ``abstract_state()`` the atoms that hold in it, ``scene()`` an env posed at it (predicate checks read it;
  never step it);
* acts: ``execute(step)`` runs one library skill closed-loop until it is done, its horizon, a timeout, a
  cancel or a fault, and says how it ended (:class:`StepOutcome`);
* has a budget: ``steps_left()`` (control steps; None: unlimited).

:class:`SimWorld` steps a Gymnasium env in this process. :class:`PerceivedWorld` is the base for a world that
only perceives (object poses + joint positions, turned into the observation and the atoms by a kinematic
copy of the task env, :class:`~skill_rl.library.perception.KinematicScene`) and acts through someone else
(the ROS 2 task executor sends an ``ExecuteSkill`` goal per step): subclass it, implement ``perceive()`` and
``execute()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from skill_rl.errors import UserError
from skill_rl.library.catalog import scene_kinds

from .symbolic import Operator, State, abstract_state

__all__ = ["STATUSES", "PerceivedWorld", "SimWorld", "StepOutcome", "StepRequest", "World"]

#: How a step can end. finished: the skill said done or ran its horizon (its effects are then checked);
#: stopped: it was stopped early (a step timeout, the control-step budget) and its effects are checked;
#: refused: it never started (unknown skill, bad parameters, stale perception): replan without it;
#: cancelled: the run was cancelled: the executor stops; fault: E-stop or a hardware fault: the executor
#: stops at once and names the fault.
STATUSES = ("finished", "stopped", "refused", "cancelled", "fault")


@dataclass(frozen=True)
class StepRequest:
    """One step for a world to run: decision index, the planner's operator, the library entry that runs it and
    the load parameters (``op.kwargs``: what an ``ExecuteSkill`` goal carries)."""

    decision: int
    op: Operator
    entry: Any
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def skill(self) -> str:
        """``name@vN`` of the entry."""
        return str(self.entry.key)


@dataclass(frozen=True)
class StepOutcome:
    """How a step ended (``status`` in :data:`STATUSES`), after ``steps`` control steps.

    ``message``: why (for people); ``fault``: the fault's name when ``status == "fault"`` (e.g. ``ESTOP``);
    ``skill_success``: the skill's own verdict (``Skill.success``) when it has one. The executor checks the
    declared effects on the perceived state itself; this verdict is recorded beside it.
    """

    status: str
    steps: int = 0
    message: str = ""
    fault: str = ""
    skill_success: bool | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"step status must be one of {STATUSES}, got {self.status!r}")


@runtime_checkable
class World(Protocol):
    """What the executor needs from a world (see the module docstring)."""

    def kinds(self) -> dict[str, str]: ...

    def layout(self) -> dict[str, slice]: ...

    def observe(self) -> Any: ...

    def abstract_state(self) -> State: ...

    def scene(self) -> Any: ...

    def execute(self, step: StepRequest) -> StepOutcome: ...

    def steps_left(self) -> int | None: ...


class SimWorld:
    """The in-process world: a Gymnasium env (already reset) stepped in this process.

    ``max_env_steps`` (default: the env's ``max_episode_steps``) is the control-step budget of the whole run;
    ``on_step(env, obs)`` is called after every env step (video frames); ``inject(decision, op, skill)`` may
    wrap a skill before it runs (fault injection, e.g. :class:`~skill_rl.planning.execute.DropObject`).
    """

    def __init__(self, env: Any, obs: Any = None, *, max_env_steps: int | None = None,
                 on_step: Callable[[Any, Any], None] | None = None,
                 inject: Callable[[int, Operator, Any], Any] | None = None) -> None:
        self.env = env
        self.base = env.unwrapped
        self.obs = obs if obs is not None else self.base._observation()
        self.max_steps = int(max_env_steps or self.base.config.max_episode_steps)
        self.used = 0
        self.on_step = on_step
        self.inject = inject

    def kinds(self) -> dict[str, str]:
        return scene_kinds(self.env)

    def layout(self) -> dict[str, slice]:
        return dict(self.base.obs_layout)

    def observe(self) -> Any:
        return self.obs

    def abstract_state(self) -> State:
        return abstract_state(self.env)

    def scene(self) -> Any:
        return self.env

    def steps_left(self) -> int | None:
        return self.max_steps - self.used

    def execute(self, step: StepRequest) -> StepOutcome:
        try:
            skill = step.entry.load(self.env, **step.params)
        except UserError as exc:  # bad parameters for this scene, a spec mismatch
            return StepOutcome("refused", 0, str(exc))
        if self.inject is not None:
            skill = self.inject(step.decision, step.op, skill)
        skill.reset()
        n, done = 0, False
        for _ in range(int(skill.horizon)):
            self.obs, *_ = self.env.step(skill.act(self.obs))
            self.used += 1
            n += 1
            if self.on_step is not None:
                self.on_step(self.env, self.obs)
            done = bool(skill.done(self.obs))
            if done or self.used >= self.max_steps:
                break
        verdict = skill.success(self.obs) if hasattr(skill, "success") else None
        if not done and self.used >= self.max_steps and n < skill.horizon:
            return StepOutcome("stopped", n, f"control-step budget spent ({self.max_steps} steps)",
                               skill_success=verdict)
        return StepOutcome("finished", n, "done" if done else f"ran its horizon ({n} steps)", skill_success=verdict)


class PerceivedWorld:
    """Base of a world that perceives object poses and joint positions and acts elsewhere (a ROS 2 graph).

    ``scene`` is a :class:`~skill_rl.library.perception.KinematicScene` (a kinematic copy of the task env);
    ``perceive()`` returns the latest :class:`~skill_rl.library.perception.PerceivedState` (raise
    ``PerceptionError`` when it is missing or stale). Subclasses implement ``perceive`` and ``execute``;
    ``max_steps`` is the control-step budget the subclass counts in ``used`` (None: unlimited).
    """

    def __init__(self, scene: Any, max_steps: int | None = None) -> None:
        self.kinematic = scene
        self.max_steps = max_steps
        self.used = 0
        self.obs: np.ndarray | None = None

    def perceive(self) -> Any:
        raise NotImplementedError

    def execute(self, step: StepRequest) -> StepOutcome:
        raise NotImplementedError

    def kinds(self) -> dict[str, str]:
        return self.kinematic.kinds

    def layout(self) -> dict[str, slice]:
        return dict(self.kinematic.layout)

    def observe(self) -> np.ndarray:
        self.obs = self.kinematic.set_state(self.perceive())
        return self.obs

    def abstract_state(self) -> State:
        return abstract_state(self.kinematic.env)

    def scene(self) -> Any:
        return self.kinematic.env

    def steps_left(self) -> int | None:
        return None if self.max_steps is None else self.max_steps - self.used
