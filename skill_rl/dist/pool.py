"""Ray plumbing shared by sweeps and evaluation workers: join or start Ray, map jobs over a pool of actors.

A leaf module: it imports no skill_rl learning code (so :mod:`skill_rl.lifelong.evaluation` may use it, an
import-linter contract keeps it that way) and imports Ray only inside functions.

``ray_session(address)`` uses a Ray that is already initialised as it is (and leaves it running), connects
to a cluster when given an address (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``), or starts an embedded
local Ray (no cluster needed), which it shuts down again on exit.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from skill_rl.errors import UserError

__all__ = ["DistError", "WorkerPool", "check_address", "ray_session", "require_ray"]

_ADDRESS_RE = re.compile(r"^(auto|local|(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5})$")
# Passed on to workers when set in the driver (a local Ray inherits them anyway; a cluster does not).
_FORWARD_ENV = ("MUJOCO_GL", "PYOPENGL_PLATFORM")


class DistError(UserError, RuntimeError):
    """Ray is missing, an address is malformed or unreachable, or a distributed job cannot start."""


def require_ray() -> Any:
    """``import ray``, or a :class:`DistError` naming the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise DistError(f"Ray is not installed ({exc}); install the dist extra: pip install -e '.[dist]'") from None
    return ray


def check_address(address: str | None) -> str | None:
    """``None``/``""`` (local embedded Ray) or a well-formed Ray address; anything else is a :class:`DistError`."""
    if address is None or address == "":
        return None
    if not _ADDRESS_RE.match(address):
        raise DistError(f"bad Ray address {address!r}: use auto, HOST:PORT (e.g. 10.0.0.5:6379) or "
                        "ray://HOST:10001 (Ray Client); leave it out for a local Ray")
    return address


def _host_port(address: str) -> tuple[str, int] | None:
    """The (host, port) a Ray address connects to; for ``auto`` the cluster ``ray start`` recorded here."""
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS", "")
        if not address:
            try:
                address = Path(tempfile.gettempdir(), "ray", "ray_current_cluster").read_text().strip()
            except OSError:
                return None  # Ray itself says that no cluster is running
    host, _, port = address.removeprefix("ray://").rpartition(":")
    return (host.strip("[]"), int(port)) if host and port.isdigit() else None


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds, not minutes: Ray retries an unreachable GCS for a long time before giving up."""
    target = _host_port(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=timeout_s).close()
    except OSError as exc:
        raise DistError(f"cannot connect to Ray at {address!r}: nothing answers at {target[0]}:{target[1]} "
                        f"({exc.strerror or exc}); start the cluster with `ray start --head`, or leave "
                        "--address out for a local Ray") from None


def _runtime_env(runtime_env: dict[str, Any] | None) -> dict[str, Any] | None:
    env = dict(runtime_env or {})
    forward = {k: os.environ[k] for k in _FORWARD_ENV if k in os.environ}
    if forward:
        env["env_vars"] = {**forward, **env.get("env_vars", {})}
    return env or None


@contextlib.contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None,
                runtime_env: dict[str, Any] | None = None) -> Iterator[Any]:
    """Yield the ``ray`` module with a connection; shut Ray down on exit only if this call started it.

    ``num_cpus`` applies to a local Ray only (a cluster has the CPUs its nodes declared). ``runtime_env`` is
    Ray's (``working_dir``, ``pip``, ``env_vars``...); ``MUJOCO_GL`` is forwarded to the workers if set here.
    """
    ray = require_ray()
    address = check_address(address)
    if address not in (None, "local"):
        _check_reachable(address)
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        target = _host_port(address) if address not in (None, "local", "auto") else None
        cur_host, _, cur_port = current.rpartition(":")
        same = target is None or (cur_port == str(target[1]) and target[0] in (cur_host, "127.0.0.1", "localhost"))
        if not same:
            raise DistError(f"this process is already connected to Ray at {current}, not {address!r}; "
                            "use that Ray (leave --address out) or start a new process")
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "runtime_env": _runtime_env(runtime_env)}
    if address in (None, "local"):
        # "local", not None: ray.init(None) would join a cluster that `ray start` left on this machine
        address, kwargs["num_cpus"] = "local", num_cpus
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DistError(f"cannot connect to Ray at {address!r}: {msg} (is `ray start --head` running there? "
                        "With Ray's token authentication set RAY_AUTH_MODE=token and the cluster's token, "
                        "see docs/dist.md)") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _indexed(self: Any, method: str, index: int, job: Any) -> tuple[int, Any]:
    return index, getattr(self, method)(job)


class WorkerPool:
    """``n`` Ray actors of one class; :meth:`map` sends jobs to idle actors and returns results in job order.

    ``cls`` is a plain class (wrapped with ``ray.remote`` here, one CPU per actor by default); its constructor
    runs once per actor, so expensive setup (building envs, importing torch) is paid once, not per job. Built
    on :class:`ray.util.ActorPool`. Needs Ray to be initialised (see :func:`ray_session`). Actors wait for
    free CPUs: inside a job that already holds the cluster's CPUs (a sweep's trials), they would wait forever,
    so more workers than the cluster has CPUs is an error here, and sweeps leave CPUs free for them
    (``docs/dist.md``).
    """

    def __init__(self, cls: type, n: int, *args: Any, num_cpus: float = 1, **kwargs: Any) -> None:
        ray = require_ray()
        from ray.util import ActorPool

        if n < 1:
            raise ValueError(f"a worker pool needs at least one worker, got {n}")
        if not ray.is_initialized():
            raise DistError("Ray is not initialised: start it first (skill_rl.dist.pool.ray_session)")
        total = ray.cluster_resources().get("CPU", 0.0)
        if n * num_cpus > total:  # such actors would wait for CPUs forever
            raise DistError(f"{n} workers x {num_cpus:g} CPU need {n * num_cpus:g} CPUs, but the Ray cluster has "
                            f"{total:g}: use fewer workers (or num_cpus per worker)")
        # _indexed: the job's index travels with its result, so results can come back in any order
        indexed = type(cls.__name__, (cls,), {"_indexed": _indexed, "__module__": cls.__module__})
        remote_cls = ray.remote(num_cpus=num_cpus)(indexed)
        self.actors = [remote_cls.remote(*args, **kwargs) for _ in range(n)]
        self._pool = ActorPool(self.actors)

    def __len__(self) -> int:
        return len(self.actors)

    def broadcast(self, method: str, *args: Any) -> list[Any]:
        """Call ``method(*args)`` on every actor and wait (e.g. hand each the current policy)."""
        import ray

        return ray.get([getattr(a, method).remote(*args) for a in self.actors])

    def map(self, method: str, jobs: Sequence[Any]) -> list[Any]:
        """``[actor.method(job) for job in jobs]`` spread over the actors; results in the order of ``jobs``.

        Each actor gets its next job as soon as it is done (``ActorPool.map_unordered``), not when the
        results before its own are in, so one slow job does not idle the other workers."""
        call: Callable[[Any, Any], Any] = lambda actor, ij: actor._indexed.remote(method, *ij)  # noqa: E731
        out: list[Any] = [None] * len(jobs)
        for i, result in self._pool.map_unordered(call, list(enumerate(jobs))):
            out[i] = result
        return out

    def close(self) -> None:
        """Kill the actors (their CPUs go back to Ray at once)."""
        import ray

        for a in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(a)
        self.actors = []

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
