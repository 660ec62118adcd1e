"""Map the top-level folders envs/ and hardware/ into the skill_rl namespace.

envs/ and hardware/ ship as skill_rl.envs and skill_rl.hardware, so no bare `envs` or `hardware` lands in
site-packages (PyPI has unrelated packages with those names). Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

ROOTS = {"skill_rl": "skill_rl", "skill_rl.envs": "envs", "skill_rl.hardware": "hardware"}


def _packages() -> list[str]:
    found = []
    for name, folder in ROOTS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder)]
    return found


setup(packages=_packages(), package_dir=ROOTS)
