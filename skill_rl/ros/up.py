"""Start a node graph from a ROS 2 params file, without ROS's launch (not on PyPI): ``skill-rl ros up``.

    python -m skill_rl.ros.up --config launch/sim.yaml
    python -m skill_rl.ros.up --config launch/sim.yaml --sequence '[{"skill": "pick_place"}, {"skill": "home"}]'

Every top-level section of the params file is a node, named after the section, run as its own process:
``python -m skill_rl.ros.<section> --ros-args -r __node:=<section> --params-file <config>`` (sections
must be names in ``skill_rl.ros.env.EXECUTABLES``; ``/**`` sections apply to every node). Nodes start in
the file's order. The launcher waits; on SIGINT/SIGTERM it stops the nodes in reverse order (SIGINT,
then SIGTERM, then SIGKILL after ``--grace`` seconds each) and exits.

A node that exits on its own is handled by its exit policy (``EXIT_POLICY``, as ROS launch's ``respawn`` /
``on_exit=Shutdown``), following the fault table of docs/execution.md:

- ``arm_hal`` is **required**: the arm's owner is gone, so the graph stops and the launcher exits with
  its status;
- ``skill_server`` and ``task_executor`` **respawn** after ``--respawn-delay`` s: the HAL keeps running
  and holding the arm (a dead executor's heartbeat stops: the HAL brakes, holds and latches HEARTBEAT until
  ``~/reset_fault``), and the executor comes back without anyone restarting the arm. A node that exits
  more than ``--max-respawns`` times within a minute is left down (the HAL still holds the arm);
- with ``--sequence`` the task executor is **required** instead: it runs the sequence once and exits with
  its error code, which ends the graph.

Children get ``skill_interfaces`` on their paths and ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` unless
it is set (``skill_rl.ros.env.child_env``); ``--domain-id`` sets ``ROS_DOMAIN_ID``.

``Graph`` is the same thing as a class (used by the tests: start, wait for topics, kill one node, stop).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import yaml

from .env import EXECUTABLES, child_env

__all__ = ["EXIT_POLICY", "Graph", "graph_nodes", "main", "resolve_config"]

#: What the launcher does when a node exits on its own: "required" stops the graph, "respawn" restarts it.
EXIT_POLICY = {"arm_hal": "required", "skill_server": "respawn", "task_executor": "respawn"}


def _die_with_parent() -> None:
    """In a node process (between fork and exec): SIGTERM when the process that started it dies, even by
    SIGKILL (Linux ``PR_SET_PDEATHSIG``). Nodes run in their own session (a terminal's Ctrl-C reaches only the
    launcher), so without this a killed launcher or test leaves its nodes running as orphans, in its DDS
    domain, where a later graph meets them."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass  # not Linux: the launcher's own stop() is the only guard


def resolve_config(config: str | os.PathLike[str]) -> Path:
    """A params file: the path itself, else one of that name installed with skill_rl
    (``<prefix>/share/skill_rl/launch``, as ROS installs a package's launch files), so ``sim.yaml`` works outside
    a checkout. Raises ValueError naming both places when neither has it."""
    path = Path(config)
    if path.is_file():
        return path
    installed = Path(sys.prefix) / "share" / "skill_rl" / "launch" / path.name
    if installed.is_file():
        return installed
    raise ValueError(f"params file {path} not found (nor {installed}); the shipped ones are sim.yaml and real.yaml")


def graph_nodes(config: str | os.PathLike[str]) -> list[str]:
    """The node sections of a params file, in file order; raises ValueError for an unknown section."""
    path = resolve_config(config)
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a ROS 2 params file is a mapping of node name -> {{ros__parameters: ...}}")
    nodes = []
    for key, section in data.items():
        if key == "/**":
            continue
        name = str(key).lstrip("/")
        if name not in EXECUTABLES:
            raise ValueError(f"{path}: section {key!r} is not a node this launcher can start; nodes: {', '.join(EXECUTABLES)}")
        if not isinstance(section, dict) or "ros__parameters" not in section:
            raise ValueError(f"{path}: section {key!r} needs a ros__parameters: mapping")
        nodes.append(name)
    if not nodes:
        raise ValueError(f"{path}: no node sections (expected some of {', '.join(EXECUTABLES)})")
    return nodes


def node_params(config: str | os.PathLike[str], node: str) -> dict[str, Any]:
    """``node``'s ``ros__parameters`` in a params file (what the launcher passes it); ValueError if it has none."""
    path = resolve_config(config)
    if node not in graph_nodes(path):
        raise ValueError(f"{path}: no {node!r} section (nodes: {', '.join(graph_nodes(path))})")
    data = yaml.safe_load(path.read_text())
    return dict(next(sec for key, sec in data.items() if str(key).lstrip("/") == node)["ros__parameters"])


class Graph:
    """Processes of a node graph (see the module docstring).

    config: params file. nodes: subset (default: every section). overrides: node -> {param: value},
    written to an extra params file that follows ``config`` (later files win). log_dir: one
    ``<node>.log`` per node, and rcl's log files under ``<log_dir>/ros`` unless ``ROS_LOG_DIR`` is set
    (default: inherit this process's stdout/stderr; rcl logs to ``~/.ros/log``).
    """

    def __init__(self, config: str | os.PathLike[str], *, nodes: Sequence[str] | None = None, domain_id: int | None = None,
                 overrides: Mapping[str, Mapping[str, Any]] | None = None, log_dir: str | os.PathLike[str] | None = None,
                 env: Mapping[str, str] | None = None, python: str = sys.executable):
        self.config = resolve_config(config).resolve()
        available = graph_nodes(self.config)
        if nodes is not None:
            bad = [n for n in nodes if n not in available]
            if bad:
                raise ValueError(f"{self.config} has no section for {', '.join(bad)}; it has {', '.join(available)}")
            available = [n for n in available if n in nodes]
        self.nodes = available
        self.domain_id = domain_id
        self.overrides = {k: dict(v) for k, v in (overrides or {}).items()}
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.env = child_env(domain_id, dict(env) if env is not None else None)
        if self.log_dir is not None:
            self.env.setdefault("ROS_LOG_DIR", str(self.log_dir / "ros"))  # rcl's own log files, next to ours
        self.python = python
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self._override_file: str | None = None

    def command(self, name: str) -> list[str]:
        cmd = [self.python, "-m", EXECUTABLES[name], "--ros-args", "-r", f"__node:={name}", "--params-file", str(self.config)]
        if self._override_file is not None:
            cmd += ["--params-file", self._override_file]
        return cmd

    def start(self) -> Graph:
        if self.overrides:
            fd, self._override_file = tempfile.mkstemp(prefix="skill_rl_up_", suffix=".yaml")
            with os.fdopen(fd, "w") as f:
                yaml.safe_dump({n: {"ros__parameters": p} for n, p in self.overrides.items()}, f)
        for name in self.nodes:
            out: Any = None
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                out = self._logs[name] = open(self.log_dir / f"{name}.log", "ab")
            # Own session: a terminal's Ctrl-C reaches only the launcher, which stops the nodes in order.
            self.procs[name] = subprocess.Popen(self.command(name), env=self.env, stdout=out,
                                                stderr=subprocess.STDOUT if out else None, start_new_session=True,
                                                preexec_fn=_die_with_parent)
        return self

    def poll(self) -> dict[str, int | None]:
        return {name: p.poll() for name, p in self.procs.items()}

    def exited(self) -> dict[str, int]:
        return {name: rc for name, rc in self.poll().items() if rc is not None}

    def signal(self, name: str, sig: int = signal.SIGINT) -> None:
        p = self.procs[name]
        if p.poll() is None:
            p.send_signal(sig)

    def restart(self, name: str) -> None:
        """Start node ``name`` again (it has exited); its output goes on in the same log."""
        if self.procs[name].poll() is None:
            raise RuntimeError(f"{name} is still running")
        out: Any = self._logs.get(name)
        self.procs[name] = subprocess.Popen(self.command(name), env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT if out else None, start_new_session=True,
                                            preexec_fn=_die_with_parent)

    def kill(self, name: str) -> int:
        """SIGKILL one node (a crash) and reap it; returns its exit status."""
        self.signal(name, signal.SIGKILL)
        return self.procs[name].wait(10)

    def stop(self, grace: float = 10.0) -> dict[str, int | None]:
        """Stop every node, last started first: SIGINT, then SIGTERM, then SIGKILL, ``grace`` s apart."""
        for name in reversed(list(self.procs)):
            p = self.procs[name]
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
                if p.poll() is not None:
                    break
                p.send_signal(sig)
                try:
                    p.wait(grace if sig != signal.SIGKILL else 10)
                except subprocess.TimeoutExpired:
                    continue
        for f in self._logs.values():
            f.close()
        self._logs.clear()
        if self._override_file is not None:
            Path(self._override_file).unlink(missing_ok=True)
            self._override_file = None
        return self.poll()

    def __enter__(self) -> Graph:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _parse_set(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        node, dot, param = key.partition(".")
        if not sep or not dot or not param:
            raise ValueError(f"--set takes node.param=value, got {item!r}")
        out.setdefault(node, {})[param] = yaml.safe_load(value)
    return out


def run(config: str, *, nodes: Sequence[str] | None = None, domain_id: int | None = None, sequence: str | None = None,
        sets: Sequence[str] = (), log_dir: str | None = None, grace: float = 10.0, respawn_delay: float = 2.0,
        max_respawns: int = 5) -> int:
    """Start the graph, wait for SIGINT/SIGTERM or a required node's exit (respawning the others, see the
    module docstring), stop it; returns the exit status."""
    overrides = _parse_set(sets)
    if sequence:
        from .task_executor import parse_steps

        parse_steps(sequence)  # fail here, before starting anything
        overrides.setdefault("task_executor", {}).update(sequence=sequence, exit_after_sequence=True)
    graph = Graph(config, nodes=nodes, domain_id=domain_id, overrides=overrides, log_dir=log_dir)
    if sequence and "task_executor" not in graph.nodes:
        raise ValueError("--sequence needs a task_executor section in the config")
    stopping: list[int] = []

    def on_signal(signum, _frame):
        stopping.append(signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    env = graph.env
    print(f"[up] {graph.config}: starting {', '.join(graph.nodes)} (ROS_DOMAIN_ID={env.get('ROS_DOMAIN_ID', '0 (default)')}, "
          f"ROS_AUTOMATIC_DISCOVERY_RANGE={env.get('ROS_AUTOMATIC_DISCOVERY_RANGE')})", flush=True)
    policy = dict(EXIT_POLICY, **({"task_executor": "required"} if sequence else {}))
    graph.start()
    code = 0
    exits: dict[str, list[float]] = {}  # node -> monotonic times it exited on its own (crash-loop guard)
    respawn_at: dict[str, float] = {}
    given_up: set[str] = set()
    try:
        while not stopping:
            now = time.monotonic()
            required_exit = None
            for name, rc in graph.exited().items():
                if name in respawn_at or name in given_up:
                    continue
                if policy.get(name, "required") == "required":
                    required_exit = (name, rc)
                    break
                recent = [t for t in exits.get(name, []) if now - t < 60.0] + [now]
                exits[name] = recent
                if len(recent) > max_respawns:
                    print(f"[up] {name} exited with status {rc} {len(recent)} times within a minute: leaving it down "
                          f"(the other nodes keep running)", flush=True)
                    given_up.add(name)
                    continue
                print(f"[up] {name} exited unexpectedly with status {rc}; respawning it in {respawn_delay:g} s "
                      f"(the other nodes keep running)", flush=True)
                respawn_at[name] = now + respawn_delay
            if required_exit is not None:
                name, rc = required_exit
                expected = sequence and name == "task_executor"
                print(f"[up] {name} exited with status {rc}{'' if expected else ' unexpectedly'}; stopping the graph",
                      flush=True)
                code = rc if expected else (rc or 1)
                break
            for name, at in list(respawn_at.items()):
                if now >= at:
                    del respawn_at[name]
                    graph.restart(name)
                    print(f"[up] {name} respawned (pid {graph.procs[name].pid})", flush=True)
            time.sleep(0.1)
        else:
            print(f"[up] {signal.Signals(stopping[0]).name}: stopping {', '.join(reversed(graph.nodes))}", flush=True)
    finally:
        status = graph.stop(grace)
        for s, handler in old.items():
            signal.signal(s, handler)
    print(f"[up] stopped: {', '.join(f'{n}={rc}' for n, rc in status.items())}", flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skill_rl.ros.up", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="ROS 2 params file whose sections are the nodes (launch/sim.yaml)")
    parser.add_argument("--nodes", help="comma-separated subset of the nodes to start")
    parser.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID for the nodes (default: inherited)")
    parser.add_argument("--sequence", help="JSON list of skills for the task executor to run once; the graph then exits")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE", help="override a parameter")
    parser.add_argument("--log-dir", help="write each node's output to <dir>/<node>.log")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds to wait after each stop signal")
    parser.add_argument("--respawn-delay", type=float, default=2.0,
                        help="seconds before a node with the respawn policy is started again")
    parser.add_argument("--max-respawns", type=int, default=5, help="give up respawning a node after this many exits in a minute")
    a = parser.parse_args(argv)
    try:
        return run(a.config, nodes=a.nodes.split(",") if a.nodes else None, domain_id=a.domain_id, sequence=a.sequence,
                   sets=a.set, log_dir=a.log_dir, grace=a.grace, respawn_delay=a.respawn_delay,
                   max_respawns=a.max_respawns)
    except (ValueError, OSError) as e:
        print(f"[up] error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
