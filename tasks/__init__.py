"""Task files (``*.task``) and lifelong suites (``suites/<suite>/*.task``), shipped as ``skill_rl.tasks``.

Data only: setup.py maps this folder to ``skill_rl.tasks`` so an installed copy (a wheel, ``pip install .``)
carries it; code finds it with ``importlib.resources.files("skill_rl.tasks")``, not through the repository.
"""
