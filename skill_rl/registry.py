"""A small generic name -> object registry whose lookup error lists what is available.

Used for anything picked by name from a config or the command line (algorithms, skills, suites)::

    ALGOS: Registry[type[Algo]] = Registry("algorithm")

    @ALGOS.register("slim")
    class Slim(Algo): ...

    ALGOS.get("slim")     # -> Slim
    ALGOS.get("slm")      # RegistryKeyError: unknown algorithm 'slm' (did you mean 'slim'?); available: slim
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

from .errors import RegistryKeyError

T = TypeVar("T")

__all__ = ["Registry", "RegistryKeyError"]


class Registry(Generic[T]):
    """Maps names to objects of type ``T``. ``kind`` names the entries in error messages ("env", "skill")."""

    def __init__(self, kind: str = "entry") -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: T, *, overwrite: bool = ...) -> T: ...  # bare @registry.register

    @overload
    def register(self, name: str | None = ..., *, overwrite: bool = ...) -> Callable[[T], T]: ...

    def register(self, name=None, *, overwrite=False):
        """Decorator that registers its target under ``name`` (default: the target's ``__name__``).

        Works bare (``@reg.register``) or called (``@reg.register("name")``); returns the target unchanged.
        Registering a taken name raises ``ValueError`` unless ``overwrite=True``.
        """
        if name is not None and not isinstance(name, str):  # used bare: `name` is the decorated object
            obj = name
            self.add(self._default_name(obj), obj, overwrite=overwrite)
            return obj

        def decorator(obj: T) -> T:
            self.add(name if name is not None else self._default_name(obj), obj, overwrite=overwrite)
            return obj

        return decorator

    def add(self, name: str, obj: T, *, overwrite: bool = False) -> None:
        """Register ``obj`` under ``name`` (the non-decorator form)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} names must be non-empty strings, got {name!r}")
        if name in self._entries and not overwrite:
            raise ValueError(f"{self.kind} {name!r} is already registered (pass overwrite=True to replace it)")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        """The object registered as ``name``; an unknown name raises ``RegistryKeyError`` (a ``KeyError``)
        whose message lists every registered name and suggests close matches."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            pass
        names = self.names()
        close = difflib.get_close_matches(str(name), names, n=3) if isinstance(name, str) else []
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        available = ", ".join(names) if names else f"no {self.kind} is registered"
        raise RegistryKeyError(f"unknown {self.kind} {name!r}{hint}; available: {available}")

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._entries.items(), key=lambda kv: kv[0])

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"

    def _default_name(self, obj: object) -> str:
        name = getattr(obj, "__name__", None)
        if not isinstance(name, str):
            raise ValueError(f"cannot infer a {self.kind} name for {obj!r}; pass one: @register('name')")
        return name
