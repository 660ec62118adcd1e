"""The discovery registries: every algorithm on every base builds, learns, checkpoints and reloads; unknown
names are refused with the registered names listed; the registry agrees with the rewards and configs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests._extras import require

th = require("torch", extra="learn")
require("stable_baselines3", extra="learn")

from skill_rl.config import ConfigError, load_config  # noqa: E402
from skill_rl.discovery.algorithms import ALGORITHMS, BASES, intrinsic_kinds  # noqa: E402
from skill_rl.discovery.checkpoints import checkpoint_base, load_checkpoint, save_checkpoint  # noqa: E402
from skill_rl.discovery.config import DiscoveryConfig, DiscoveryError, check_config  # noqa: E402
from skill_rl.discovery.factory import build_model, make_env  # noqa: E402
from skill_rl.registry import RegistryKeyError  # noqa: E402

th.set_num_threads(1)
REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("base", BASES.names())
@pytest.mark.parametrize("algo", ALGORITHMS.names())
def test_every_algorithm_learns_and_reloads_on_every_base(tmp_path, algo, base):
    cfg = DiscoveryConfig(algo=algo, base=base, n_skills=2, net_arch=[16], phi_hidden=[16], n_steps=16, batch_size=8,
                          n_epochs=1, learning_starts=8, buffer_size=200, env_options={"max_episode_steps": 10})
    check_config(cfg)
    spec = ALGORITHMS.get(algo)
    env = make_env(cfg)
    try:
        model = build_model(cfg, env)
        terms = spec.terms(cfg)
        assert isinstance(model, BASES.get(base).model_class())
        assert list(model.term_names) == terms and terms[0] == "discovery"
        assert model.n_heads == (1 if spec.summed or not spec.uses_terms else len(terms))
        assert model.intrinsic_spec["discovery"]["kind"] == (spec.intrinsic or cfg.discovery)
        before = {k: v.clone() for k, v in model.policy.state_dict().items()}
        model.learn(total_timesteps=32)
        assert model.num_timesteps >= 32
        changed = [k for k, v in model.policy.state_dict().items() if not th.equal(v, before[k])]
        assert changed, "a few gradient steps changed no policy parameter"

        path = save_checkpoint(model, tmp_path / "ckpt", keep=1, replay_buffer=False)
        assert checkpoint_base(path) == base
        loaded = load_checkpoint(path, replay_buffer=False)
        assert type(loaded) is type(model) and loaded.num_timesteps == model.num_timesteps
        obs, _ = env.reset(seed=3)
        np.testing.assert_allclose(loaded.predict(obs, deterministic=True)[0],
                                   model.predict(obs, deterministic=True)[0], atol=1e-6)
    finally:
        env.close()


def test_unknown_names_are_refused_with_the_registered_names_listed():
    with pytest.raises(RegistryKeyError) as err:
        ALGORITHMS.get("slm")
    assert "did you mean 'slim'" in str(err.value)
    assert all(name in str(err.value) for name in ALGORITHMS.names())
    algos = re.escape(str(ALGORITHMS.names()))  # every registered name, in the loader's words
    with pytest.raises(DiscoveryError, match=f"'algo': expected one of {algos}, got 'dads'"):
        DiscoveryConfig(algo="dads")
    with pytest.raises(ConfigError, match=f"'base': expected one of {re.escape(str(BASES.names()))}, got 'ddpg'"):
        load_config(DiscoveryConfig, None, ["base=ddpg"])
    with pytest.raises(ConfigError, match=r"'discovery': expected one of \['diayn', 'lsd', 'metra'\], got 'lds' \(did you mean 'lsd'\?\)"):
        load_config(DiscoveryConfig, None, ["discovery=lds"])
    cfg = DiscoveryConfig()
    cfg.algo = "slm"  # set after construction: the run's own check refuses it too
    with pytest.raises(DiscoveryError, match=f"expected one of {algos}, got 'slm' \\(did you mean 'slim'\\?\\)"):
        check_config(cfg)
    with pytest.raises(RegistryKeyError, match="available: ppo, sac"):
        load_checkpoint(__file__, base="td3")


def test_registry_agrees_with_the_intrinsic_rewards_and_the_configs():
    from skill_rl.discovery.slim import INTRINSIC_KINDS

    assert intrinsic_kinds() == sorted(INTRINSIC_KINDS)
    for name, spec in ALGORITHMS.items():
        cfg = load_config(DiscoveryConfig, REPO / "configs" / f"{spec.config}.yaml")
        assert cfg.algo == name, f"configs/{spec.config}.yaml runs {cfg.algo}, not {name}"
