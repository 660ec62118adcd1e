"""skill_rl.config: YAML + overrides into dataclasses, with errors that name the key."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from skill_rl.config import ConfigError, config_from_dict, config_to_dict, dump_config, load_config
from skill_rl.errors import UserError


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


@dataclass
class Optim:
    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass
class Model:
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    optim: Optim = field(default_factory=Optim)
    activation: Literal["relu", "tanh"] = "relu"


@dataclass
class Exp:
    name: str = "exp"
    steps: int = 100
    gamma: float = 0.99
    use_gpu: bool = False
    seed: int | None = None
    out: Path = Path("runs")
    mode: Mode = Mode.FAST
    model: Model = field(default_factory=Model)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Required:
    n: int


@dataclass
class Validated:
    k: int = 1

    def __post_init__(self) -> None:
        if self.k < 0:
            raise ValueError("k must be >= 0")


def write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_defaults_without_file():
    assert load_config(Exp) == Exp()


def test_load_yaml(tmp_path):
    p = write(tmp_path, "name: a\nsteps: 5\ngamma: 1\nmodel:\n  hidden: [32]\n  optim: {lr: 1e-3}\nmode: SLOW\n")
    cfg = load_config(Exp, p)
    assert cfg.name == "a" and cfg.steps == 5
    assert cfg.gamma == 1.0 and isinstance(cfg.gamma, float)  # int is fine for float
    assert cfg.model.hidden == [32]
    assert cfg.model.optim.lr == pytest.approx(1e-3)  # exponent without a dot is a float, unlike PyYAML
    assert cfg.model.optim.betas == (0.9, 0.999)  # untouched nested default kept
    assert cfg.mode is Mode.SLOW


def test_empty_file_gives_defaults(tmp_path):
    assert load_config(Exp, write(tmp_path, "# nothing here\n")) == Exp()


def test_overrides(tmp_path):
    p = write(tmp_path, "steps: 5\nmodel:\n  hidden: [32]\n")
    cfg = load_config(
        Exp, p,
        ["steps=7", "model.optim.lr=0.1", "model.optim.betas=[0.5, 0.6]", "use_gpu=true", "seed=3",
         "extra.note=hi", "out=/tmp/x", "model.activation=tanh"],
    )
    assert cfg.steps == 7  # override beats file
    assert cfg.model.hidden == [32]  # file beats default
    assert cfg.model.optim.lr == 0.1 and cfg.model.optim.betas == (0.5, 0.6)
    assert cfg.use_gpu is True and cfg.seed == 3
    assert cfg.extra == {"note": "hi"}
    assert cfg.out == Path("/tmp/x")
    assert cfg.model.activation == "tanh"
    assert load_config(Exp, overrides=["seed=null"]).seed is None


def test_str_override_keeps_typed_text():
    assert load_config(Exp, overrides=["name=2024"]).name == "2024"
    assert load_config(Exp, overrides=["name=true"]).name == "true"
    assert load_config(Exp, overrides=["name=a: b"]).name == "a: b"


@pytest.mark.parametrize(
    ("override", "key", "valid"),
    [("stpes=3", "stpes", "steps"), ("model.optim.lrr=1", "model.optim.lrr", "betas, lr"),
     ("model.hiden=[1]", "model.hiden", "activation, hidden, optim")],
)
def test_unknown_override_key_names_full_key_and_valid_keys(override, key, valid):
    with pytest.raises(ConfigError) as exc:
        load_config(Exp, overrides=[override])
    msg = str(exc.value)
    assert f"unknown config key {key!r}" in msg
    assert valid in msg


def test_unknown_key_in_file_names_key_and_file(tmp_path):
    p = write(tmp_path, "model:\n  optim:\n    momentum: 0.9\n")
    with pytest.raises(ConfigError) as exc:
        load_config(Exp, p)
    msg = str(exc.value)
    assert "'model.optim.momentum'" in msg and "betas, lr" in msg and str(p) in msg


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("steps: many", "steps", "expected int, got 'many'"),
        ("steps: 1.5", "steps", "expected int, got 1.5"),
        ("steps: true", "steps", "expected int, got True"),
        ("gamma: [1, 2]", "gamma", "expected float, got [1, 2]"),
        ("use_gpu: 1", "use_gpu", "expected bool, got 1"),
        ("model:\n  hidden: [1, x]", "model.hidden[1]", "expected int, got 'x'"),
        ("model:\n  optim:\n    betas: [1]", "model.optim.betas", "expected tuple[float, float] (2 items)"),
        ("model:\n  activation: gelu", "model.activation", "expected one of ['relu', 'tanh']"),
        ("model: 3", "model", "expected a mapping"),
        ("seed: abc", "seed", "expected int | None, got 'abc'"),
        ("mode: MEDIUM", "mode", "expected one of ['FAST', 'SLOW']"),
    ],
)
def test_wrong_type_names_key_expected_and_value(tmp_path, text, key, expected):
    with pytest.raises(ConfigError) as exc:
        load_config(Exp, write(tmp_path, text + "\n"))
    msg = str(exc.value)
    assert f"config key {key!r}" in msg, msg
    assert expected in msg, msg


def test_wrong_type_from_override():
    with pytest.raises(ConfigError, match=r"config key 'steps': expected int, got 'ten' \(str\)"):
        load_config(Exp, overrides=["steps=ten"])
    with pytest.raises(ConfigError, match=r"'model.optim.lr': expected float"):
        load_config(Exp, overrides=["model.optim.lr=[1]"])


def test_override_into_a_scalar_is_an_error():
    with pytest.raises(ConfigError, match=r"cannot set 'steps.x': 'steps' has type int, not a section"):
        load_config(Exp, overrides=["steps.x=1"])


@pytest.mark.parametrize("bad", ["steps", "=3", "model..lr=1", ".steps=1"])
def test_malformed_override(bad):
    with pytest.raises(ConfigError, match="must look like key=value"):
        load_config(Exp, overrides=[bad])


def test_malformed_yaml_names_file_and_line(tmp_path):
    p = write(tmp_path, "name: a\nsteps: 3\nmodel:\n  hidden: [1, 2\n  optim: {}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(Exp, p)
    msg = str(exc.value)
    assert str(p) in msg and "malformed YAML" in msg
    assert "line 5" in msg  # where PyYAML notices the unclosed list


def test_malformed_yaml_bad_indent(tmp_path):
    p = write(tmp_path, "name: a\n  steps: 3\n")
    with pytest.raises(ConfigError, match=r"line 2, column \d+"):
        load_config(Exp, p)


def test_top_level_must_be_mapping(tmp_path):
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(Exp, write(tmp_path, "- 1\n- 2\n"))


def test_missing_file():
    with pytest.raises(ConfigError, match="config file not found: /no/such/file.yaml"):
        load_config(Exp, "/no/such/file.yaml")


def test_required_field_and_post_init_validation():
    with pytest.raises(ConfigError, match="missing required config key 'n'"):
        load_config(Required)
    assert load_config(Required, overrides=["n=2"]).n == 2
    with pytest.raises(ConfigError, match="k must be >= 0"):
        load_config(Validated, overrides=["k=-1"])


def test_errors_are_user_errors_and_value_errors():
    with pytest.raises(UserError):
        load_config(Exp, overrides=["nope=1"])
    with pytest.raises(ValueError):
        load_config(Exp, overrides=["nope=1"])


def test_not_a_dataclass():
    with pytest.raises(TypeError):
        load_config(dict)


def test_dump_load_round_trip(tmp_path):
    cfg = load_config(
        Exp,
        overrides=["name=x", "steps=9", "seed=4", "mode=SLOW", "model.optim.betas=[0.1, 0.2]", "extra.a=[1, 2]",
                   "extra.b.c=text", "gamma=0.5"],
    )
    p = dump_config(cfg, tmp_path / "sub" / "config.yaml", header="a header\nsecond line")
    text = p.read_text()
    assert text.startswith("# a header\n# second line\n")
    back = load_config(Exp, p)
    assert back == cfg
    assert config_to_dict(back) == config_to_dict(cfg)
    assert config_to_dict(cfg)["model"]["optim"]["betas"] == [0.1, 0.2]
    assert config_to_dict(cfg)["out"] == "runs" and config_to_dict(cfg)["mode"] == "SLOW"


def test_config_from_dict():
    cfg = config_from_dict(Exp, {"model": {"optim": {"lr": 2}}})
    assert cfg.model.optim.lr == 2.0 and cfg.model.hidden == [256, 256]
    with pytest.raises(ConfigError, match="'model.optim.x'"):
        config_from_dict(Exp, {"model": {"optim": {"x": 2}}})


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "config.yaml"
    for i in range(3):
        dump_config(Exp(steps=i), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]
    assert load_config(Exp, target).steps == 2


def test_atomic_write_failure_keeps_old_file_and_no_temp(tmp_path):
    target = tmp_path / "config.yaml"
    dump_config(Exp(steps=1), target)

    class Boom:
        def __repr__(self) -> str:
            return "Boom"

    with pytest.raises(Exception):  # noqa: B017 - yaml refuses the object; which error is yaml's business
        dump_config({"bad": Boom()}, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]
    assert load_config(Exp, target).steps == 1
