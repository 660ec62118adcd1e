"""Process environment of the ROS 2 nodes: where ``skill_interfaces`` is installed, and DDS isolation.

No rclpy here (it must run before rclpy is imported).

``skill_interfaces`` (``hardware/ros_interfaces/skill_interfaces``) is built by
``scripts/build_ros_interfaces.sh`` into a prefix (``interfaces_prefix()``): ``$SKILL_RL_ROS_PREFIX``, else
``build/ros_install`` of the checkout when skill_rl runs from one (editable install), else a per-user
``$XDG_DATA_HOME/skill_rl/ros_install`` (``~/.local/share/...``; a wheel install has no repository).
Using it needs two things a ROS install would get from ``source setup.bash``:

- its Python package on ``sys.path`` (``<prefix>/lib/pythonX.Y/site-packages``);
- its shared libraries loadable: the generated type support is dlopen()ed by bare file name, and glibc reads
  ``LD_LIBRARY_PATH`` only at process start, so setting it from Python is too late for this process.
  ``ensure_interfaces()`` therefore loads ``<prefix>/lib/lib*.so`` by absolute path first (a later
  dlopen() by name finds the already-loaded library), and exports ``PYTHONPATH`` / ``LD_LIBRARY_PATH`` /
  ``AMENT_PREFIX_PATH`` in ``os.environ`` so that child processes get the normal setup.

Every ``skill_rl.ros`` node calls ``ensure_interfaces()`` before importing ``skill_interfaces``; other
programs can do the same, or ``eval "$(python -m skill_rl.ros.env)"``.

``tf2_msgs`` (the type of ``/tf``): not on PyPI, so the same script builds a vendored copy of its
``TFMessage`` into the same prefix, unless a ROS install provides the real package; ``ensure_interfaces()``
loads the vendored one only when no other ``tf2_msgs`` is importable (a sourced ROS install wins).

DDS: the default discovery range multicasts on every network interface. ``isolate_dds()`` sets
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` unless the variable is already set (set it to ``SUBNET`` on
purpose to reach a driver on another machine); tests also pick a private ``ROS_DOMAIN_ID``
(``test_domain_id()``).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from pathlib import Path

__all__ = [
    "EXECUTABLES",
    "REPO_ROOT",
    "InterfacesNotBuiltError",
    "child_env",
    "default_prefix",
    "ensure_interfaces",
    "interfaces_prefix",
    "isolate_dds",
    "test_domain_id",
]

#: The repository root for an editable install (where launch/ and build/ are); in a wheel install this is
#: site-packages, not a repository (see ``default_prefix``).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Node executables: name -> module run as ``python -m <module>`` (launch files use the names).
EXECUTABLES = {
    "arm_hal": "skill_rl.ros.arm_hal",
    "skill_server": "skill_rl.ros.skill_server",
    "task_executor": "skill_rl.ros.task_executor",
}
_PREFIX_VAR = "SKILL_RL_ROS_PREFIX"
_loaded: Path | None = None


class InterfacesNotBuiltError(ImportError):
    """``skill_interfaces`` is not built (or not found)."""


def default_prefix() -> Path:
    """Where ``scripts/build_ros_interfaces.sh`` installs by default: ``<repo>/build/ros_install`` when this
    module runs from a checkout, else ``$XDG_DATA_HOME/skill_rl/ros_install`` (default ``~/.local/share``)."""
    if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "hardware" / "ros_interfaces").is_dir():
        return REPO_ROOT / "build" / "ros_install"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "skill_rl" / "ros_install"


def interfaces_prefix() -> Path:
    """Install prefix of ``skill_interfaces``: ``$SKILL_RL_ROS_PREFIX``, else :func:`default_prefix`."""
    return Path(os.environ.get(_PREFIX_VAR) or default_prefix())


def _site(prefix: Path) -> Path:
    return prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


def _prepend(var: str, value: str, env: dict[str, str] | os._Environ) -> None:
    parts = [p for p in env.get(var, "").split(os.pathsep) if p]
    if value not in parts:
        env[var] = os.pathsep.join([value, *parts])


def _importable_elsewhere(pkg: str, site: Path) -> bool:
    """``pkg`` imports from somewhere other than ``site`` (a sourced ROS install's own package)."""
    spec = importlib.util.find_spec(pkg)
    origin = getattr(spec, "origin", None) if spec is not None else None
    return origin is not None and not Path(origin).resolve().is_relative_to(site.resolve())


def ensure_interfaces() -> Path | None:
    """Make ``import skill_interfaces`` (and ``import tf2_msgs``, for ``/tf``) work in this process and in
    its children; idempotent.

    Uses ``$SKILL_RL_ROS_PREFIX`` when set; else an already importable ``skill_interfaces`` (a sourced
    ROS workspace); else :func:`default_prefix`. Returns the prefix used (None: already importable).
    Raises ``InterfacesNotBuiltError`` with the build command when it is nowhere.
    """
    global _loaded
    if _loaded is not None:
        return _loaded
    explicit = bool(os.environ.get(_PREFIX_VAR))
    if not explicit and "skill_interfaces" not in sys.modules and importlib.util.find_spec("skill_interfaces") is not None:
        if not (_site(interfaces_prefix()) / "skill_interfaces").is_dir():
            return None
    prefix = interfaces_prefix()
    site = _site(prefix)
    if not (site / "skill_interfaces").is_dir():
        raise InterfacesNotBuiltError(
            f"the ROS 2 interface package skill_interfaces is not built (looked in {site}); build it from a "
            f"skill-rl checkout with `bash scripts/build_ros_interfaces.sh` (needs the ros extra: pip install "
            f"-e '.[ros]'; it installs into {prefix}), or set {_PREFIX_VAR} to where it is installed"
        )
    lib = prefix / "lib"
    # Load order, per package: generator_c first (everything links it), then the rest; RUNPATH $ORIGIN
    # resolves the links between them, the ROS wheels' LD_LIBRARY_PATH (their .pth re-exec) the ROS libraries.
    # tf2_msgs: the vendored copy (built where no ROS install has it), unless a real one is importable.
    for pkg in ("skill_interfaces", "tf2_msgs"):
        if pkg == "tf2_msgs" and _importable_elsewhere(pkg, site):
            continue
        libs = sorted(lib.glob(f"lib{pkg}__*.so"), key=lambda p: ("generator_c" not in p.name, p.name))
        for path in libs:
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    if str(site) not in sys.path:
        sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    _prepend("PYTHONPATH", str(site), os.environ)
    _prepend("LD_LIBRARY_PATH", str(lib), os.environ)
    _prepend("AMENT_PREFIX_PATH", str(prefix), os.environ)
    _loaded = prefix
    return prefix


def isolate_dds(domain_id: int | None = None, env: dict[str, str] | os._Environ | None = None) -> None:
    """Keep DDS discovery on loopback unless the caller chose otherwise; optionally set the domain id.
    Call before ``rclpy.init``. ``env`` defaults to ``os.environ``."""
    env = os.environ if env is None else env
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if domain_id is not None:
        if not 0 <= int(domain_id) <= 232:
            raise ValueError(f"ROS_DOMAIN_ID must be in 0..232, got {domain_id}")
        env["ROS_DOMAIN_ID"] = str(int(domain_id))


def test_domain_id(pid: int | None = None) -> int:
    """A domain id in 1..101 derived from a process id (parallel test processes do not meet)."""
    return 1 + (os.getpid() if pid is None else pid) % 101


test_domain_id.__test__ = False  # not a pytest test


def child_env(domain_id: int | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a node subprocess: this process's (or ``base``), with the interface package's paths
    and DDS isolation (``isolate_dds``)."""
    env = dict(os.environ if base is None else base)
    try:
        prefix = ensure_interfaces()
    except InterfacesNotBuiltError:
        prefix = None  # the child reports it with the build command
    if prefix is not None:
        _prepend("PYTHONPATH", str(_site(prefix)), env)
        _prepend("LD_LIBRARY_PATH", str(prefix / "lib"), env)
        _prepend("AMENT_PREFIX_PATH", str(prefix), env)
    isolate_dds(domain_id, env)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def main() -> None:
    """``python -m skill_rl.ros.env``: print the shell exports that make skill_interfaces importable."""
    prefix = interfaces_prefix()
    site = _site(prefix)
    if not (site / "skill_interfaces").is_dir():
        print(f"echo 'skill_interfaces is not built in {prefix}: bash scripts/build_ros_interfaces.sh' >&2")
        raise SystemExit(1)
    print(f'export PYTHONPATH="{site}${{PYTHONPATH:+:$PYTHONPATH}}"')
    print(f'export LD_LIBRARY_PATH="{prefix / "lib"}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"')
    print(f'export AMENT_PREFIX_PATH="{prefix}${{AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}}"')
    print('export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"')


if __name__ == "__main__":
    main()
