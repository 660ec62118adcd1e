"""Vectorised skill_rl envs: ``make_vec_env`` over gymnasium's SyncVectorEnv / AsyncVectorEnv.

Modes:

* ``"sync"``: all sub-envs step one after another in this process (``SyncVectorEnv``).
* ``"async"``: one worker process per sub-env (``AsyncVectorEnv``); observations come back through shared
  memory, actions and infos through pipes.
* ``"auto"``: ``"async"`` when ``num_envs >= 2`` and this process may use at least 2 CPU cores, else
  ``"sync"``. Measured with ``benchmarks/env_throughput.py`` (``benchmarks/results/env_throughput.json``)
  on the 2-core dev machine (AMD EPYC, shared and noisy, numpy's OpenBLAS with 2 threads), TabletopLift-v0,
  total env steps/s, median of 3 interleaved rounds (single env: ~1.5-1.9k steps/s):

  ============  ========  =========
  num_envs      sync      async
  ============  ========  =========
  2             ~1.0x     ~1.5x
  4             ~1.0x     ~1.6x
  ============  ========  =========

  Sync is never faster than one env (it is the same loop plus a little batching); async wins by 1.4-1.7x
  once two cores are free, despite the pipe round-trip per step (~100 us) and more workers than cores.
  With a single usable core async only adds that round-trip, so ``auto`` picks sync there.

Seeding: with ``seed=s`` sub-env ``i`` is seeded with ``s + i`` on its first ``reset()`` (whether or not
``reset`` is given a seed then; an explicit ``vec.reset(seed=t)`` seeds sub-env ``i`` with ``t + i``, as
gymnasium does), its action and observation spaces with ``s + i``, and the batched action space with ``s``.
So two vector envs made with the same seed return the same first observation and sample the same actions,
and sub-envs start from different states. ``seed=None`` leaves everything unseeded.

Sync and async run the same env code, so for the same seed and actions they give identical trajectories.
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
    return "async" if num_envs >= 2 and usable_cpus() >= 2 else "sync"


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

    Why: the tabletop IK inverts a 6x6 matrix every step, and OpenBLAS runs even that multi-threaded.
    Measured on the 2-core dev machine (benchmarks/env_throughput.json, ``ours`` vs ``ours_blas1``), the
    step is up to ~3x slower with 2 BLAS threads whenever another process is busy on the other core, and
    one worker process per sub-env with 2 BLAS threads each oversubscribes the cores. So async workers
    run with 1 BLAS thread (``worker_blas_threads``); the parent process is left alone.
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


def _env_factory(
    env_id: str, seed: int | None, env_kwargs: dict[str, Any], blas: int | None = None
) -> Callable[[], gym.Env]:
    def make_one() -> gym.Env:
        from skill_rl.envs import make  # imported in the worker, so the factory pickles by reference

        if blas is not None:
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
    worker_blas_threads: int | None = 1,
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
        worker_blas_threads: OpenBLAS threads in each async worker process (see ``set_blas_threads``);
            ``None`` leaves them as inherited. Ignored in sync mode.
        **env_kwargs: passed to every sub-env (for example ``controller="joint_pos"``).
    """
    if not isinstance(num_envs, int) or isinstance(num_envs, bool) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
    concrete = resolve_mode(num_envs, mode)
    blas = worker_blas_threads if concrete == "async" else None
    fns = [_env_factory(env_id, None if seed is None else seed + i, dict(env_kwargs), blas) for i in range(num_envs)]
    kwargs = dict(vector_kwargs or {})
    vec: VectorEnv = SyncVectorEnv(fns, **kwargs) if concrete == "sync" else AsyncVectorEnv(fns, **kwargs)
    if seed is not None:
        vec.action_space.seed(seed)
        vec.observation_space.seed(seed)
    return vec


__all__ = ["VEC_MODES", "blas_threads", "make_vec_env", "resolve_mode", "set_blas_threads", "usable_cpus"]
