"""Parallel evaluation on Ray actors equals serial evaluation for fixed seeds (SLIM skills and lifelong)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests._extras import require

ray = require("ray", extra="dist")


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (2 CPUs, no dashboard), shut down afterwards."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _slim_policy(tmp_path: Path, **overrides):
    """An untrained (seeded) SLIM skill policy and its config: evaluation does not need a trained one."""
    import torch

    from skill_rl.discovery.policy import SkillPolicy
    from skill_rl.discovery.train import DiscoveryConfig, build_model, make_env

    cfg = DiscoveryConfig(net_arch=[32, 32], phi_hidden=[32, 32], buffer_size=1000, learning_starts=10,
                          batch_size=8, eval_episodes_per_skill=2, video=False, run_root=str(tmp_path),
                          env_options={"max_episode_steps": 15}, **overrides)
    env = make_env(cfg)
    torch.manual_seed(3)
    model = build_model(cfg, env)
    policy = SkillPolicy.from_model(model, cfg.n_skills, cfg.discrete_skills, env.obs_layout)
    return policy, cfg, env


def _assert_same_rollouts(par: dict, ser: dict) -> None:
    assert set(par) == set(ser)
    for key in ser:
        assert par[key].shape == ser[key].shape, key
        assert par[key].dtype == ser[key].dtype, key
        np.testing.assert_array_equal(par[key], ser[key], err_msg=key)


@pytest.mark.parametrize("discrete", [True, False], ids=["discrete_z", "continuous_z"])
def test_slim_skill_evaluation_on_ray_equals_serial(local_ray, tmp_path: Path, discrete: bool) -> None:
    from skill_rl.discovery.train import evaluate_skills, rollout_skills
    from skill_rl.dist.evaluation import SkillEvalPool

    policy, cfg, env = _slim_policy(tmp_path, n_skills=2, discrete_skills=discrete)
    serial = rollout_skills(policy, env, cfg, seed=123)
    with SkillEvalPool(cfg, workers=2) as pool:
        parallel = pool.rollout_skills(policy, seed=123)
        again = pool.rollout_skills(policy, seed=123)  # the actors' envs are reused: still the same
    n_skills = cfg.n_skills if discrete else 2 * cfg.n_skills
    assert len(serial["skill_ids"]) == n_skills * cfg.eval_episodes_per_skill
    # the rollouts differ between skills and starts (otherwise equality would prove little)
    assert len({tuple(f.round(6)) for f in serial["features"]}) == len(serial["features"])
    _assert_same_rollouts(parallel, serial)
    _assert_same_rollouts(again, serial)
    m_ser = evaluate_skills(policy, env, cfg, rollouts=serial)
    m_par = evaluate_skills(policy, None, cfg, rollouts=parallel)
    assert m_par == m_ser
    env.close()


def test_slim_evaluate_skills_ray_uses_the_running_ray(local_ray, tmp_path: Path) -> None:
    from skill_rl.discovery.train import evaluate_skills
    from skill_rl.dist.evaluation import evaluate_skills_ray

    policy, cfg, env = _slim_policy(tmp_path, n_skills=2)
    assert evaluate_skills_ray(policy, cfg, workers=1, seed=7) == evaluate_skills(policy, env, cfg, seed=7)
    assert ray.is_initialized()  # a Ray that was running before is left running
    env.close()


def _lifelong_setup():
    import torch

    from skill_rl.lifelong.algos import AlgoConfig, make_algo
    from skill_rl.lifelong.demos import env_schema
    from skill_rl.lifelong.policies import PolicyConfig, TaskPolicy, text_features
    from skill_rl.lifelong.suites import get_suite

    suite = get_suite("tabletop-micro").subset(2)
    schema = env_schema(suite)
    torch.manual_seed(0)
    algo = make_algo("seql", TaskPolicy(PolicyConfig(obs_dim=schema.dim, act_dim=7, hidden=32)), AlgoConfig())
    jobs = [(k, t.factory, text_features(t.language)) for k, t in enumerate(suite.tasks)]
    return schema, algo, jobs


def test_lifelong_ray_evaluation_equals_in_process(local_ray) -> None:
    """``eval_backend=ray`` (actors from skill_rl.dist.pool) gives the in-process results: same successes,
    steps and actions, on a second call too (the actors keep their envs), and leaves a running Ray running."""
    from skill_rl.lifelong.evaluation import Evaluator

    schema, algo, jobs = _lifelong_setup()
    serial = Evaluator(schema, 2, 30, workers=1)
    parallel = Evaluator(schema, 2, 30, workers=2, backend="ray")
    try:
        assert parallel.backend == "ray"
        ser = serial.evaluate_stats(algo, jobs)
        par = parallel.evaluate_stats(algo, jobs)
        par2 = parallel.evaluate_stats(algo, jobs)
        assert len(par) == len(jobs) == 2
        for p, p2, s in zip(par, par2, ser, strict=True):
            assert p["action_sum"] != 0.0
            assert p == s  # exactly: success, mean steps and the action fingerprint
            assert p2 == s
        assert ser[0]["action_sum"] != ser[1]["action_sum"]  # the two tasks are different jobs
    finally:
        serial.close()
        parallel.close()
    assert ray.is_initialized()


def test_lifelong_unknown_eval_backend_is_a_user_error() -> None:
    from skill_rl.errors import UserError
    from skill_rl.lifelong.demos import ObsSchema
    from skill_rl.lifelong.evaluation import Evaluator

    with pytest.raises(UserError, match="eval_backend must be 'process' or 'ray', got 'rya'"):
        Evaluator(ObsSchema([("a", 1)]), 1, 1, workers=2, backend="rya")


class _Echo:
    def __init__(self, offset: int) -> None:
        import os

        self.offset, self.pid = offset, os.getpid()

    def work(self, x: int) -> tuple[int, int]:
        return x + self.offset, self.pid


def test_worker_pool_keeps_job_order_and_refuses_more_cpus_than_the_cluster_has(local_ray) -> None:
    from skill_rl.dist.pool import DistError, WorkerPool

    with WorkerPool(_Echo, 2, 10) as pool:
        out = pool.map("work", list(range(8)))
        assert [v for v, _ in out] == list(range(10, 18))  # results in job order
        assert len({pid for _, pid in out}) == 2  # spread over both actors
    with pytest.raises(DistError, match="need 3 CPUs, but the Ray cluster has 2"):
        WorkerPool(_Echo, 3, 0)


def test_bad_address_is_a_clear_error() -> None:
    from skill_rl.dist.pool import DistError, check_address

    assert check_address(None) is None and check_address("auto") == "auto"
    assert check_address("10.0.0.5:6379") == "10.0.0.5:6379" and check_address("ray://head:10001")
    for bad in ("not an address", "http://x:1", "host"):
        with pytest.raises(DistError, match="bad Ray address"):
            check_address(bad)


def test_ray_session_refuses_a_second_cluster_while_connected(local_ray) -> None:
    """A process connected to one Ray does not silently run on it when told to use another address."""
    import socket

    from skill_rl.dist.pool import DistError, ray_session

    with socket.socket() as listener:  # something answers at this address, but it is not our Ray
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(DistError, match="already connected to Ray at"):
            with ray_session(f"127.0.0.1:{port}"):
                pass
    with ray_session() as r:  # no address: the running Ray, left running
        assert r.is_initialized()
    assert ray.is_initialized()
