"""Exceptions shared across skill_rl (stdlib only)."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the person running skill-rl: a config file, an override, an id.

    The message alone must say what is wrong and how to fix it: the CLI prints it as one red line, without a
    traceback, and exits with status 2. Raise it (or a subclass) only for input errors, never for bugs.
    """


class RegistryKeyError(UserError, KeyError):
    """An unknown name was looked up in a registry; the message lists the names that exist."""

    def __str__(self) -> str:  # KeyError's own __str__ would wrap the message in quotes
        return str(self.args[0]) if self.args else ""
