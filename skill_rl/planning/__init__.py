"""Planning: task language, goals, a symbolic layer over primitives, plan search and monitored execution.

Reads primitives only through ``skill_rl.library`` (never from a learner's internals). Submodules are
imported on use, so ``import skill_rl.planning`` stays light.
"""
