"""``python -m skill_rl`` is the ``skill-rl`` command."""

from skill_rl.cli import main

main()
