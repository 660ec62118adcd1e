"""Skill library: save -> load -> same action for every kind, versions, rm, import/export, refusals, corruption."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import skill_rl.envs as envs
from skill_rl.errors import UserError
from skill_rl.library import (
    CorruptLibraryError,
    LibraryError,
    SkillLibrary,
    SkillRecord,
    SpecMismatchError,
    UnknownSkillError,
    add_scripted_primitives,
    spec_of_env,
)

torch.manual_seed(0)


class SlimPolicy(nn.Module):
    def __init__(self, obs_dim: int, z_dim: int, act_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_dim + z_dim, 16), nn.Tanh(), nn.Linear(16, act_dim))

    def forward(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(torch.cat([obs, z], dim=-1)))


class Proposal(nn.Module):
    def __init__(self, obs_dim: int, z_dim: int) -> None:
        super().__init__()
        self.net = nn.Linear(2 * obs_dim, z_dim)

    def forward(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, goal], dim=-1))


class LmpPolicy(nn.Module):
    def __init__(self, obs_dim: int, z_dim: int, act_dim: int) -> None:
        super().__init__()
        self.net = nn.Linear(2 * obs_dim + z_dim, act_dim)

    def forward(self, obs: torch.Tensor, goal: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(torch.cat([obs, goal, z], dim=-1)))


class BcPolicy(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        self.net = nn.Linear(obs_dim, act_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs))


@pytest.fixture(scope="module")
def env():
    e = envs.make("TabletopPush-v0")
    yield e
    e.close()


@pytest.fixture
def lib(tmp_path):
    return SkillLibrary(tmp_path / "lib")


def script(module: nn.Module, path):
    torch.jit.save(torch.jit.script(module), str(path))
    return path


def learned_record(env, name: str, kind: str, **params) -> SkillRecord:
    obs_spec, action_spec = spec_of_env(env)
    return SkillRecord(name=name, kind=kind, env_id="skill_rl/TabletopPush-v0", obs_spec=obs_spec,
                       action_spec=action_spec, params=params, metrics={"return": 1.5})


def rollout_actions(prim, env, seed: int, steps: int = 5) -> np.ndarray:
    obs, _ = env.reset(seed=seed)
    prim.reset()
    actions = []
    for _ in range(steps):
        a = prim.act(obs)
        actions.append(a)
        obs, *_ = env.step(a)
    return np.stack(actions)


def test_slim_save_load_same_action(env, lib, tmp_path):
    d, a = env.unwrapped.obs_dim, env.action_space.shape[0]
    policy = SlimPolicy(d, 3, a)
    z = [0.5, -1.0, 0.25]
    entry = lib.add(learned_record(env, "slim_push", "slim", z=z, horizon=7), {"policy.pt": script(policy, tmp_path / "p.pt")})
    prim = SkillLibrary(lib.root).get("slim_push").load(env)
    assert prim.horizon == 7
    obs, _ = env.reset(seed=3)
    expected = policy(torch.as_tensor(obs[None]), torch.tensor([z])).detach().numpy()[0]
    np.testing.assert_allclose(prim.act(obs), expected, rtol=1e-5, atol=1e-6)
    # Deterministic: two loads give the same actions along a rollout, and done() follows the horizon.
    again = lib.get("slim_push").load(env)
    np.testing.assert_array_equal(rollout_actions(prim, env, 1), rollout_actions(again, env, 1))
    assert not prim.done(obs)
    for _ in range(2):
        prim.act(obs)
    assert prim.done(obs)
    assert entry.metrics == {"return": 1.5} and entry.version == 1


def test_play_lmp_save_load_same_action(env, lib, tmp_path):
    d, a = env.unwrapped.obs_dim, env.action_space.shape[0]
    proposal, policy = Proposal(d, 4), LmpPolicy(d, 4, a)
    files = {"policy.pt": script(policy, tmp_path / "pi.pt"), "proposal.pt": script(proposal, tmp_path / "psi.pt")}
    lib.add(learned_record(env, "lmp", "play_lmp", replan_every=3), files)
    goal, _ = env.reset(seed=9)
    with pytest.raises(LibraryError, match="goal"):
        lib.get("lmp").load(env)
    prim = lib.get("lmp").load(env, goal=goal)
    obs, _ = env.reset(seed=2)
    o, g = torch.as_tensor(obs[None]), torch.as_tensor(goal[None])
    expected = policy(o, g, proposal(o, g)).detach().numpy()[0]
    first = prim.act(obs)
    np.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-6)
    # The plan z is kept between re-plans (every 3 steps) and re-proposed at step 3 from the current obs.
    later = env.step(first)[0]
    ol = torch.as_tensor(later[None])
    with torch.no_grad():
        kept, fresh = policy(ol, g, proposal(o, g)).numpy()[0], policy(ol, g, proposal(ol, g)).numpy()[0]
    assert not np.allclose(kept, fresh)
    for _ in range(2):  # steps 1 and 2
        np.testing.assert_allclose(prim.act(later), kept, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(prim.act(later), fresh, rtol=1e-5, atol=1e-6)  # step 3


def test_bc_save_load_same_action_and_state_image_obs(env, lib, tmp_path):
    d, a = env.unwrapped.obs_dim, env.action_space.shape[0]
    policy = BcPolicy(d, a)
    lib.add(learned_record(env, "bc_push", "bc"), {"policy.pt": script(policy, tmp_path / "bc.pt")})
    prim = lib.get("bc_push").load(env)
    obs, _ = env.reset(seed=4)
    expected = policy(torch.as_tensor(obs[None])).detach().numpy()[0]
    np.testing.assert_allclose(prim.act(obs), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(prim.act({"state": obs, "image": None}), expected, rtol=1e-5, atol=1e-6)


def test_scripted_save_load_same_action(env, lib):
    from skill_rl.library import CATALOG, BadParamsError, make_scripted

    added = add_scripted_primitives(lib)
    assert {e.name for e in added} >= {"pick_place", "push", "open_drawer", "close_drawer", "reach", "lift", "home"}
    assert add_scripted_primitives(lib) == []  # idempotent
    assert {e.name: tuple(e.params["args"]) for e in lib.list()} == {n: s.arg_names for n, s in CATALOG.items()}
    target = [0.05, 0.1]
    prim = SkillLibrary(lib.root).get("push").load(env, obj="cube", target_xy=target)
    direct = make_scripted(env, "push", obj="cube", target_xy=target)
    np.testing.assert_array_equal(rollout_actions(prim, env, 5), rollout_actions(direct, env, 5))
    with pytest.raises(LibraryError, match="unknown parameter\\(s\\) wrong_arg"):
        lib.get("push").load(env, obj="cube", target_xy=target, wrong_arg=1)
    with pytest.raises(LibraryError, match="missing parameter target_xy"):
        lib.get("push").load(env, obj="cube")
    with pytest.raises(BadParamsError, match="cube_purple.*valid cube / cylinder names here: cube"):
        lib.get("push").load(env, obj="cube_purple", target_xy=target)
    with pytest.raises(LibraryError, match="push@v1.*obj='region' is a region"):
        lib.get("push").load(env, obj="region", target_xy=target)
    prim = lib.get("push").load(env, obj="cube", target_xy="region")  # a region name as the target
    assert prim.horizon > 0 and not prim.done(env.reset(seed=0)[0])


def test_versions_are_immutable_and_latest_wins(env, lib, tmp_path):
    d, a = env.unwrapped.obs_dim, env.action_space.shape[0]
    p1, p2 = BcPolicy(d, a), BcPolicy(d, a)
    e1 = lib.add(learned_record(env, "bc", "bc"), {"policy.pt": script(p1, tmp_path / "1.pt")})
    e2 = lib.add(learned_record(env, "bc", "bc"), {"policy.pt": script(p2, tmp_path / "2.pt")})
    assert (e1.version, e2.version) == (1, 2)
    assert lib.get("bc").version == 2 and lib.get("bc", 1).files != lib.get("bc", 2).files
    assert lib.versions("bc") == [1, 2]
    obs, _ = env.reset(seed=0)
    a1, a2 = lib.get("bc", 1).load(env).act(obs), lib.get("bc").load(env).act(obs)
    assert not np.allclose(a1, a2)
    with pytest.raises(LibraryError, match="immutable"):
        lib.add(learned_record(env, "bc", "bc").__class__(**{**learned_record(env, "bc", "bc").__dict__, "version": 1}),
                {"policy.pt": tmp_path / "1.pt"})
    with pytest.raises(UnknownSkillError, match="no version 7; versions: 1, 2"):
        lib.get("bc", 7)
    # Attaching files makes a new version that keeps the old files.
    (tmp_path / "extra.pt").write_bytes(b"x")
    e3 = lib.add_files("bc", {"notes.txt": tmp_path / "extra.pt"}, metrics={"dyn": 0.1})
    assert e3.version == 3 and set(e3.files) == {"policy.pt", "notes.txt"} and e3.metrics["dyn"] == 0.1


def test_remove(env, lib, tmp_path):
    d, a = env.unwrapped.obs_dim, env.action_space.shape[0]
    for _ in range(2):
        lib.add(learned_record(env, "bc", "bc"), {"policy.pt": script(BcPolicy(d, a), tmp_path / "p.pt")})
    lib.add(learned_record(env, "other", "bc"), {"policy.pt": tmp_path / "p.pt"})
    folder = lib.get("bc", 1).path
    assert [e.version for e in lib.remove("bc", 1)] == [1]
    assert not folder.exists() and lib.versions("bc") == [2]
    lib.remove("bc")
    assert lib.names() == ["other"] and not (lib.root / "bc").exists()
    with pytest.raises(UnknownSkillError, match="known skills: other"):
        lib.remove("bc")
    # Removing every version frees the name: a fresh add starts again at 1.
    assert lib.add(learned_record(env, "bc", "bc"), {"policy.pt": tmp_path / "p.pt"}).version == 1


@pytest.mark.parametrize("suffix", ["", ".tar.gz", ".zip"])
def test_export_import_round_trip(env, lib, tmp_path, suffix):
    d, a = env.unwrapped.obs_dim, env.action_space.shape[0]
    policy = SlimPolicy(d, 2, a)
    entry = lib.add(learned_record(env, "slim", "slim", z=[1.0, 0.0]), {"policy.pt": script(policy, tmp_path / "p.pt")})
    dest = lib.export("slim", tmp_path / f"exported{suffix}")
    other = SkillLibrary(tmp_path / "other")
    imported = other.import_(dest)
    assert (imported.name, imported.version, imported.kind) == ("slim", 1, "slim")
    assert imported.files == entry.files and imported.params == entry.params
    assert imported.metrics["imported_from"]["version"] == 1
    obs, _ = env.reset(seed=1)
    np.testing.assert_array_equal(other.get("slim").load(env).act(obs), lib.get("slim").load(env).act(obs))
    assert lib.import_(dest).version == 2  # importing into the source library adds a version


def test_import_refuses_tampered_skill(env, lib, tmp_path):
    d, a = env.unwrapped.obs_dim, env.action_space.shape[0]
    lib.add(learned_record(env, "bc", "bc"), {"policy.pt": script(BcPolicy(d, a), tmp_path / "p.pt")})
    dest = lib.export("bc", tmp_path / "out")
    (dest / "policy.pt").write_bytes(b"not torchscript")
    other = SkillLibrary(tmp_path / "other")
    with pytest.raises(CorruptLibraryError, match="checksum"):
        other.import_(dest)
    assert other.list() == []
    (tmp_path / "junk.tar.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(CorruptLibraryError, match="unreadable archive"):
        other.import_(tmp_path / "junk.tar.gz")


def test_spec_mismatch_refused(env, lib, tmp_path):
    d, a = env.unwrapped.obs_dim, env.action_space.shape[0]
    lib.add(learned_record(env, "bc", "bc"), {"policy.pt": script(BcPolicy(d, a), tmp_path / "p.pt")})
    lift = envs.make("TabletopLift-v0")  # cube only: 33-d observations
    joint = envs.make("TabletopPush-v0", controller="joint_pos")  # 8-d actions
    try:
        with pytest.raises(SpecMismatchError, match="trained on 36-d observations"):
            lib.get("bc").load(lift)
        with pytest.raises(SpecMismatchError, match="7-d action space.*8-d"):
            lib.get("bc").load(joint)
    finally:
        lift.close()
        joint.close()
    assert issubclass(SpecMismatchError, UserError)


def test_unknown_name_lists_known(env, lib, tmp_path):
    add_scripted_primitives(lib, ["push", "lift"])
    with pytest.raises(UnknownSkillError, match=r"unknown skill 'pushh' \(did you mean 'push'\?\); known skills: lift, push"):
        lib.get("pushh")
    assert isinstance(UnknownSkillError("x"), KeyError)
    with pytest.raises(UnknownSkillError, match="is empty"):
        SkillLibrary(tmp_path / "empty").get("push")


def test_bad_records_refused(env, lib, tmp_path):
    with pytest.raises(LibraryError, match="invalid skill name"):
        lib.add(learned_record(env, "../evil", "bc"), {"policy.pt": tmp_path})
    with pytest.raises(LibraryError, match="unknown kind 'rl'"):
        lib.add(learned_record(env, "x", "rl"))
    with pytest.raises(LibraryError, match="needs file.*policy.pt"):
        lib.add(learned_record(env, "x", "slim", z=[0.0]))
    (tmp_path / "bad.pt").write_bytes(b"pickle, not torchscript")
    lib.add(learned_record(env, "x", "bc"), {"policy.pt": tmp_path / "bad.pt"})
    with pytest.raises(CorruptLibraryError, match="not a loadable TorchScript"):
        lib.get("x").load(env)
    assert lib.names() == ["x"]


def test_corrupted_manifest_clear_error_and_nothing_lost(env, lib, tmp_path):
    add_scripted_primitives(lib, ["push", "lift"])
    before = lib.manifest_path.read_text()
    lib.manifest_path.write_text(before[: len(before) // 2])  # truncated, as by a crash of some other tool
    with pytest.raises(CorruptLibraryError, match="manifest.*corrupt.*reindex"):
        lib.list()
    with pytest.raises(CorruptLibraryError):
        add_scripted_primitives(lib, ["reach"])  # refuses to write over it
    assert not (lib.root / "reach").exists()
    entries, problems = lib.reindex()
    assert [e.name for e in entries] == ["lift", "push"] and problems == []
    assert list(lib.root.glob("manifest.json.corrupt-*"))  # the corrupt file is kept
    assert json.loads(lib.manifest_path.read_text()) == json.loads(before)
    lib.manifest_path.unlink()  # a lost manifest is not an empty library
    with pytest.raises(CorruptLibraryError, match="no manifest.json.*reindex"):
        lib.get("push")
    assert [e.name for e in lib.reindex()[0]] == ["lift", "push"]


def test_corrupted_entry_file_is_reported(env, lib, tmp_path):
    d, a = env.unwrapped.obs_dim, env.action_space.shape[0]
    entry = lib.add(learned_record(env, "bc", "bc"), {"policy.pt": script(BcPolicy(d, a), tmp_path / "p.pt")})
    (entry.path / "policy.pt").write_bytes(b"flipped bits")
    with pytest.raises(CorruptLibraryError, match="does not match its checksum"):
        lib.get("bc").load(env)
    (entry.path / "skill.json").write_text("{")
    _, problems = lib.reindex()
    assert len(problems) == 1 and "skill.json" in problems[0]
    assert entry.path.exists()  # reported, never deleted


def test_concurrent_adds_get_distinct_versions(lib):
    from concurrent.futures import ThreadPoolExecutor

    from skill_rl.library import scripted_record

    with ThreadPoolExecutor(4) as pool:
        versions = sorted(e.version for e in pool.map(lambda _: lib.add(scripted_record("lift")), range(8)))
    assert versions == list(range(1, 9)) and lib.versions("lift") == versions


def test_import_skill_rl_library_is_light():
    import subprocess
    import sys

    code = ("import sys, skill_rl.library; "
            "bad = [m for m in ('torch', 'skill_rl.planning', 'skill_rl.discovery', 'skill_rl.play', 'skill_rl.cli') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_loading_a_learned_skill_needs_no_training_code(env, lib, tmp_path):
    """A fresh interpreter loads and runs a stored SLIM skill with only the library (no discovery/play/SB3)."""
    import subprocess
    import sys

    d, a = env.unwrapped.obs_dim, env.action_space.shape[0]
    policy = SlimPolicy(d, 2, a)
    lib.add(learned_record(env, "slim", "slim", z=[0.0, 1.0]), {"policy.pt": script(policy, tmp_path / "p.pt")})
    obs, _ = env.reset(seed=0)
    expected = lib.get("slim").load(env).act(obs)
    code = (
        "import json, sys, skill_rl.envs as envs; from skill_rl.library import SkillLibrary\n"
        f"env = envs.make('TabletopPush-v0'); obs, _ = env.reset(seed=0)\n"
        f"print(json.dumps(SkillLibrary({str(lib.root)!r}).get('slim').load(env).act(obs).tolist()))\n"
        "bad = [m for m in ('skill_rl.discovery', 'skill_rl.play', 'stable_baselines3', 'tests') if m in sys.modules]\n"
        "sys.exit(f'training code imported: {bad}' if bad else 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    np.testing.assert_allclose(json.loads(res.stdout.strip().splitlines()[-1]), expected, rtol=1e-6)
