"""skill_rl.registry: register / get / names, and a lookup error that lists what exists."""

from __future__ import annotations

import pytest

from skill_rl.errors import RegistryKeyError, UserError
from skill_rl.registry import Registry


def make() -> Registry[type]:
    reg: Registry[type] = Registry("algorithm")

    @reg.register("slim")
    class Slim:
        pass

    @reg.register
    class Gcbc:
        pass

    @reg.register()
    class PlayLmp:
        pass

    return reg


def test_register_forms_and_names():
    reg = make()
    assert reg.names() == ["Gcbc", "PlayLmp", "slim"]
    assert reg.get("slim").__name__ == "Slim"
    assert reg.get("Gcbc").__name__ == "Gcbc"
    assert "slim" in reg and "nope" not in reg
    assert len(reg) == 3 and list(reg) == reg.names()
    assert [n for n, _ in reg.items()] == reg.names()


def test_decorator_returns_target_unchanged():
    reg: Registry[object] = Registry()

    def f():
        return 1

    assert reg.register("f")(f) is f
    assert reg.register(f, overwrite=True) is f


def test_unknown_name_lists_available_and_suggests():
    reg = make()
    with pytest.raises(KeyError) as exc:
        reg.get("slm")
    msg = str(exc.value)
    assert msg.startswith("unknown algorithm 'slm'")  # no KeyError quoting around the message
    assert "did you mean 'slim'" in msg
    assert "available: Gcbc, PlayLmp, slim" in msg
    assert isinstance(exc.value, RegistryKeyError) and isinstance(exc.value, UserError)


def test_empty_registry_message():
    with pytest.raises(KeyError, match="no skill is registered"):
        Registry("skill").get("x")


def test_duplicate_name_needs_overwrite():
    reg = make()
    with pytest.raises(ValueError, match="already registered"):
        reg.add("slim", int)
    reg.add("slim", int, overwrite=True)
    assert reg.get("slim") is int


def test_bad_names():
    reg: Registry[object] = Registry()
    with pytest.raises(ValueError):
        reg.add("", 1)
    with pytest.raises(ValueError, match="cannot infer"):
        reg.register()(3)
