"""Vectorised skill_rl envs: ``make_vec_env`` over gymnasium's SyncVectorEnv / AsyncVectorEnv.

Modes:

* ``"sync"``: all sub-envs step one after another in this process (``SyncVectorEnv``).
* ``"async"``: one worker process per sub-env (``AsyncVectorEnv``); observations come back through shared
  memory, actions and infos through pipes.
* ``"auto"``: ``"sync"`` unless ``num_envs >= 2`` and this process may use at least 4 CPU cores, then
  ``"async"``.

Why, measured with ``benchmarks/env_throughput.py`` on the 2-core dev machine (AMD EPYC VM, shared with
other jobs), TabletopLift-v0: total env steps/s relative to one env, median of 7 interleaved 1-s rounds;
ranges over the runs of 2026-11-25 05:36-05:45 UTC, with the env of commit e0d8131 (``results/
env_throughput.json`` has the last run; runs with the older LAPACK-based IK, 05:10-05:32, gave 0.87-1.13x
for sync and 0.88-1.20x for async):

  ========  ===============  ================
  num_envs  sync             async
  ========  ===============  ================
  2         0.89 - 0.92x     0.84 - 0.98x
  4         0.90 - 0.94x     0.94 - 0.98x
  ========  ===============  ================

Neither beats the other beyond the machine's ~10% noise, and neither beats one plain env (gymnasium's
info merging costs ~10%), so on 2 cores ``auto`` takes sync: no worker processes, no extra memory,
tracebacks in-process. Async cannot gain much on 2 cores: its parent spends ~180 us of CPU per vector step
(pickling actions and infos, merging infos) and each pipe round trip costs ~30-200 us in this VM, against
~450 us of work per env step; with a dummy env of 400 us per step it reached 1.3x sync with 2 workers, and
1.16x with our env's info dict. With 4 or more cores the workers no longer compete with the parent for
cores and async scales with them (not measured: no such machine was available).

Seeding: with ``seed=s`` sub-env ``i`` is seeded with ``s + i`` on its first ``reset()`` unless that reset
brings its own seed (``vec.reset(seed=t)`` seeds sub-env ``i`` with ``t + i``, as gymnasium does); its
action and observation spaces get ``s + i``, and the batched action space ``s``.
So two vector envs made with the same seed return the same first observation and sample the same actions,
and sub-envs start from different states. ``seed=None`` leaves everything unseeded.

Sync and async run the same env code, so for the same seed and actions they give identical trajectories
(async workers keep the parent's BLAS thread count by default, see ``make_vec_env``).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import gymnasium as gym
from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv, VectorEnv

VEC_MODES = ("auto", "sync", "async")


def usable_cpus() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def resolve_mode(num_envs: int, mode: str = "auto") -> str:
    """The concrete mode (``"sync"`` or ``"async"``) that ``make_vec_env`` uses for ``mode``."""
    if mode not in VEC_MODES:
        raise ValueError(f"unknown vector env mode {mode!r}; valid modes: {', '.join(VEC_MODES)}")
    if mode != "auto":
        return mode
    return "async" if num_envs >= 2 and usable_cpus() >= 4 else "sync"


@lru_cache(maxsize=1)
def _openblas() -> tuple[str, Any, Any] | None:
    """(library path, get_num_threads, set_num_threads) of the OpenBLAS loaded in this process, if any."""
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({ln.split()[-1] for ln in f if "openblas" in ln.lower() and ".so" in ln})
    except OSError:
        return None
    for lib in libs:
        try:
            handle = ctypes.CDLL(lib)
        except OSError:
            continue
        for prefix in ("openblas", "scipy_openblas"):
            for suffix in ("", "64_", "_64_"):
                get = getattr(handle, f"{prefix}_get_num_threads{suffix}", None)
                set_ = getattr(handle, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    return lib, get, set_
    return None


def blas_threads() -> int | None:
    """Threads numpy's OpenBLAS uses now (None where it cannot be found, e.g. MKL or Accelerate)."""
    import numpy  # noqa: F401 - make sure the library is loaded

    found = _openblas()
    return int(found[1]()) if found else None


def set_blas_threads(n: int) -> int | None:
    """Set numpy's OpenBLAS thread count at run time (as threadpoolctl does); returns the previous count.

    Why it matters: OpenBLAS runs even a 6x6 LAPACK call on all its threads. Until commit e0d8131 the
    tabletop IK inverted its 6x6 matrix with numpy's LAPACK every step; measured on the 2-core dev machine,
    one env then burnt ~2 cores of CPU (the second BLAS thread spin-waits) and its step slowed down by up to
    3x whenever another process was busy on the other core. The thread count also changes LAPACK's
    rounding (last-bit differences), so processes that must reproduce each other bit for bit need the same
    count. The IK now uses MuJoCo's Cholesky routines and no longer depends on it; other envs may.
    """
    import numpy  # noqa: F401

    found = _openblas()
    if found is None:
        return None
    previous = int(found[1]())
    found[2](ctypes.c_int(int(n)))
    return previous


class _SeedFirstReset(gym.Wrapper):
    """Seeds the env (and its spaces) with a fixed seed on its first reset unless that reset brings a seed."""

    def __init__(self, env: gym.Env, seed: int):
        super().__init__(env)
        self._first_seed: int | None = seed
        env.action_space.seed(seed)
        env.observation_space.seed(seed)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is None:
            seed = self._first_seed
        self._first_seed = None
        return self.env.reset(seed=seed, options=options)


def _env_factory(env_id: str, seed: int | None, env_kwargs: dict[str, Any], blas: int | None) -> Callable[[], gym.Env]:
    parent = os.getpid()

    def make_one() -> gym.Env:
        from skill_rl.envs import make  # imported in the worker, so the factory pickles by reference

        # AsyncVectorEnv also calls the first factory in the parent (for the spaces): leave that one alone.
        if blas is not None and os.getpid() != parent:
            set_blas_threads(blas)
        env = make(env_id, **env_kwargs)
        return env if seed is None else _SeedFirstReset(env, seed)

    return make_one


def make_vec_env(
    env_id: str,
    num_envs: int,
    mode: str = "auto",
    seed: int | None = None,
    *,
    vector_kwargs: dict[str, Any] | None = None,
    worker_blas_threads: int | str | None = "parent",
    **env_kwargs: Any,
) -> VectorEnv:
    """``num_envs`` copies of ``env_id`` (made with ``skill_rl.envs.make``) as one gymnasium ``VectorEnv``.

    Args:
        env_id: any skill_rl id, with or without the ``skill_rl/`` prefix.
        num_envs: number of sub-envs (>= 1).
        mode: ``"sync"``, ``"async"`` or ``"auto"`` (see the module docstring for the measurement behind it).
        seed: base seed; sub-env ``i`` gets ``seed + i`` on its first reset. ``None``: unseeded.
        vector_kwargs: extra keyword arguments for ``SyncVectorEnv`` / ``AsyncVectorEnv`` (for example
            ``{"autoreset_mode": "SameStep"}`` or ``{"context": "spawn"}`` for async).
        worker_blas_threads: OpenBLAS threads in each async worker process (see ``set_blas_threads``):
            ``"parent"`` (default) the parent's count now, so async reproduces sync bit for bit whatever
            LAPACK an env calls; an int sets it (``1`` avoids oversubscribing cores with BLAS-heavy envs);
            ``None`` leaves whatever the worker starts with. Ignored in sync mode.
        **env_kwargs: passed to every sub-env (for example ``controller="joint_pos"``).
    """
    if not isinstance(num_envs, int) or isinstance(num_envs, bool) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
    concrete = resolve_mode(num_envs, mode)
    blas: int | None = None
    if concrete == "async":
        if worker_blas_threads == "parent":
            blas = blas_threads()
        elif worker_blas_threads is not None:
            if not isinstance(worker_blas_threads, int) or worker_blas_threads < 1:
                raise ValueError(f"worker_blas_threads must be 'parent', None or an int >= 1, got {worker_blas_threads!r}")
            blas = worker_blas_threads
    fns = [_env_factory(env_id, None if seed is None else seed + i, dict(env_kwargs), blas) for i in range(num_envs)]
    kwargs = dict(vector_kwargs or {})
    vec: VectorEnv = SyncVectorEnv(fns, **kwargs) if concrete == "sync" else AsyncVectorEnv(fns, **kwargs)
    if seed is not None:
        vec.action_space.seed(seed)
        vec.observation_space.seed(seed)
    return vec


__all__ = ["VEC_MODES", "blas_threads", "make_vec_env", "resolve_mode", "set_blas_threads", "usable_cpus"]
