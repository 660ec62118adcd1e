"""launch/: the ROS 2 launch files parse, and everything they reference exists (no ROS needed).

ROS's ``launch``/``launch_ros`` are not on PyPI, so the files are checked statically: every params file
they name is in launch/, every ``Node(package="skill_rl", executable=X)`` is a node module in
skill_rl/ros with a ``main``, and the params files' sections and keys are ones the nodes declare.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
import yaml

from skill_rl.ros import env as ros_env
from skill_rl.ros.up import graph_nodes

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / "launch"
LAUNCH_FILES = sorted(LAUNCH.glob("*.launch.py"))
PARAM_FILES = sorted(LAUNCH.glob("*.yaml"))


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and ((isinstance(n.func, ast.Name) and n.func.id == name) or (isinstance(n.func, ast.Attribute) and n.func.attr == name))]


def _kw(call: ast.Call, key: str):
    for kw in call.keywords:
        if kw.arg == key:
            return ast.literal_eval(kw.value) if isinstance(kw.value, ast.Constant) else kw.value
    return None


def test_launch_folder_holds_only_launch_files_and_params():
    assert not (LAUNCH / "__init__.py").exists(), "launch/ must never be a Python package (it would shadow ROS's launch)"
    assert {p.name for p in LAUNCH_FILES} >= {"sim.launch.py", "real.launch.py"}
    assert {p.name for p in PARAM_FILES} >= {"sim.yaml", "real.yaml"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_references_existing_params_and_node_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    funcs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert "generate_launch_description" in funcs
    yamls = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.endswith(".yaml")]
    assert yamls, f"{path.name} names no params file"
    for name in yamls:
        assert (LAUNCH / name).is_file(), f"{path.name} references {name}, which is not in launch/"
    nodes = _calls(tree, "Node")
    assert nodes, f"{path.name} starts no launch_ros Node"
    started = []
    for call in nodes:
        assert _kw(call, "package") == "skill_rl"
        exe = _kw(call, "executable")
        assert exe in ros_env.EXECUTABLES, f"{path.name}: executable {exe!r} is not a skill_rl.ros node ({list(ros_env.EXECUTABLES)})"
        module = ros_env.EXECUTABLES[exe]
        file = ROOT / (module.replace(".", "/") + ".py")
        assert file.is_file(), f"{module} has no file {file}"
        assert callable(getattr(importlib.import_module(module), "main", None)), f"{module} has no main()"
        assert _kw(call, "name") == exe
        assert _kw(call, "parameters") is not None, f"{path.name}: node {exe} gets no parameters"
        started.append(exe)
    # The default params file has a section for every node the launch file starts.
    for name in yamls:
        sections = graph_nodes(LAUNCH / name)
        assert set(started) <= set(sections), f"{name} lacks sections for {set(started) - set(sections)}"


@pytest.mark.parametrize("path", PARAM_FILES, ids=lambda p: p.name)
def test_params_files_use_only_parameters_the_nodes_declare(path):
    data = yaml.safe_load(path.read_text())
    for node in graph_nodes(path):
        params = data[node]["ros__parameters"]
        module = importlib.import_module(ros_env.EXECUTABLES[node])
        declared = set(module.PARAMS)
        for key, value in params.items():
            if node == "arm_hal" and key in ("safety", "backend_args"):
                assert isinstance(value, dict)
                continue
            assert key in declared, f"{path.name}: {node}.{key} is not a parameter of {module.__name__} ({sorted(declared)})"
            default = module.PARAMS[key]
            assert isinstance(value, type(default)) or (isinstance(default, float) and isinstance(value, int)), \
                f"{path.name}: {node}.{key} = {value!r}, expected a {type(default).__name__}"
        if node == "arm_hal":
            from skill_rl.hardware import SafetyConfig, backend_names, load_description

            assert params["backend"] in backend_names()
            SafetyConfig.from_description(load_description(params["robot"]), params.get("safety"))  # validates keys


def test_up_rejects_unknown_sections(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("arm_hall:\n  ros__parameters: {backend: fake}\n")
    with pytest.raises(ValueError, match="arm_hall.*arm_hal"):
        graph_nodes(bad)
