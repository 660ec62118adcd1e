"""MuJoCo tabletop worlds: a Panda with a parallel gripper on a table, one env class per task."""

from __future__ import annotations

from typing import Any

from .base import CONTROLLERS, TabletopConfig, TabletopEnv
from .tasks import TASKS, Drawer, Lift, PickPlace, Push, Reach, Stack


def _task_env(task_cls: type, doc: str | None) -> type[TabletopEnv]:
    def __init__(self, render_mode: str | None = None, config: TabletopConfig | None = None, **options: Any) -> None:
        TabletopEnv.__init__(self, task_cls(), config=config, render_mode=render_mode, **options)

    name = f"Tabletop{task_cls.__name__}Env"
    return type(name, (TabletopEnv,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


TabletopReachEnv = _task_env(Reach, Reach.__doc__)
TabletopPushEnv = _task_env(Push, Push.__doc__)
TabletopLiftEnv = _task_env(Lift, Lift.__doc__)
TabletopPickPlaceEnv = _task_env(PickPlace, PickPlace.__doc__)
TabletopStackEnv = _task_env(Stack, Stack.__doc__)
TabletopDrawerEnv = _task_env(Drawer, Drawer.__doc__)

__all__ = [
    "CONTROLLERS", "TASKS", "TabletopConfig", "TabletopEnv", "TabletopReachEnv", "TabletopPushEnv",
    "TabletopLiftEnv", "TabletopPickPlaceEnv", "TabletopStackEnv", "TabletopDrawerEnv",
]
