"""Map the top-level folders envs/, hardware/ and tasks/ into the skill_rl namespace.

envs/ and hardware/ ship as skill_rl.envs and skill_rl.hardware, so no bare `envs` or `hardware` lands in
site-packages (PyPI has unrelated packages with those names). tasks/ (task files and lifelong suites, data
only) ships as skill_rl.tasks, so an install outside a checkout finds them through importlib.resources.
launch/ (ROS 2 launch files and their params YAML) is installed where ROS puts a package's launch files,
<prefix>/share/skill_rl/launch, so `skill-rl ros up --config sim.yaml` finds it outside a checkout; it is never
a Python package (it would shadow ROS's own `launch`). Everything else is in pyproject.toml (package data:
[tool.setuptools.package-data]).
"""

from glob import glob

from setuptools import find_packages, setup

ROOTS = {"skill_rl": "skill_rl", "skill_rl.envs": "envs", "skill_rl.hardware": "hardware", "skill_rl.tasks": "tasks"}


def _packages() -> list[str]:
    found = []
    for name, folder in ROOTS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder)]
    return found


setup(packages=_packages(), package_dir=ROOTS, data_files=[("share/skill_rl/launch", sorted(glob("launch/*")))])
