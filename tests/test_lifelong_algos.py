"""Each lifelong algorithm's distinctive mechanism, on tiny synthetic tasks (CPU, seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skill_rl.lifelong.algos import ALGOS, ER, EWC, AlgoConfig, PackNet, TaskData, make_algo
from skill_rl.lifelong.policies import PolicyConfig, TaskPolicy, text_features

OBS, ACT = 6, 3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _task(k: int, n_eps: int = 4, length: int = 15, history: int = 1) -> TaskData:
    rng = np.random.default_rng(k)
    obs = rng.normal(size=(n_eps * length, OBS)).astype(np.float32)
    w = rng.normal(size=(OBS, ACT)) * 0.5
    actions = np.tanh(obs @ w + (k - 0.5)).astype(np.float32)  # a different mapping per task
    starts = np.arange(n_eps) * length
    return TaskData.from_episodes(obs, actions, starts, starts + length, history, k,
                                  text_features(f"task number {k}"), f"task number {k}")


def _policy(**kw) -> TaskPolicy:
    torch.manual_seed(0)
    return TaskPolicy(PolicyConfig(obs_dim=OBS, act_dim=ACT, hidden=32, layers=2, **kw))


def _train(algo, k: int, data: TaskData, steps: int = 30) -> list[float]:
    algo.start_task(k, data, steps)
    return [algo.observe(algo.sample(data, 16)) for _ in range(steps)]


def test_registry_lists_all_algorithms() -> None:
    assert ALGOS.names() == ["er", "ewc", "multitask", "packnet", "seql"]
    with pytest.raises(KeyError, match="available: er, ewc"):
        make_algo("sgd", _policy())


@pytest.mark.parametrize("encoder,head,emb", [("mlp", "gaussian", "text"), ("transformer", "gmm", "id"),
                                             ("mlp", "gmm", "id")])
def test_bc_loss_decreases(encoder: str, head: str, emb: str) -> None:
    data = _task(0, history=3)
    algo = make_algo("seql", _policy(encoder=encoder, head=head, task_embedding=emb, history=3),
                     AlgoConfig(lr=3e-3))
    losses = _train(algo, 0, data, 150)
    assert np.mean(losses[-20:]) < np.mean(losses[:20]) - 0.3
    with algo.evaluating(0) as pol:
        b = data.batch(np.arange(5))
        a = pol.act(b.obs, b.task_ids, b.text)
    assert a.shape == (5, ACT) and bool((a.abs() <= 1).all())


def test_cnn_encoder_trains_on_images() -> None:
    pol = _policy(encoder="cnn")
    imgs = torch.randint(0, 255, (8, 3, 64, 64), dtype=torch.uint8)
    obs, act = torch.randn(8, 1, OBS), torch.rand(8, ACT) * 2 - 1
    text = torch.as_tensor(np.stack([text_features("a")] * 8))
    opt = torch.optim.Adam(pol.parameters(), 1e-3)
    first = pol.loss(obs, act, torch.zeros(8, dtype=torch.long), text, imgs)
    for _ in range(30):
        loss = pol.loss(obs, act, torch.zeros(8, dtype=torch.long), text, imgs)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first.item()
    assert pol.conv[0].weight.grad is not None and pol.conv[0].weight.grad.abs().sum() > 0


def test_er_memory_holds_earlier_tasks_and_is_replayed() -> None:
    algo = make_algo("er", _policy(), AlgoConfig(n_memories=20))
    assert isinstance(algo, ER)
    d0, d1 = _task(0), _task(1)
    _train(algo, 0, d0, 5)
    assert algo.replay_batch(8) is None
    algo.end_task(0, d0)
    assert algo.memory_task_ids() == [0] and len(algo.memory[0]) == 20
    # memory samples are real task-0 samples (obs history and action rows match)
    m = algo.memory[0]
    b = m.batch(np.arange(len(m)))
    assert all(any(np.allclose(b.actions[i].numpy(), row) for row in d0.actions) for i in range(5))
    seen: list[torch.Tensor] = []
    orig = algo.loss
    algo.loss = lambda batch: (seen.append(batch.task_ids.clone()), orig(batch))[1]  # type: ignore[method-assign]
    _train(algo, 1, d1, 3)
    ids = torch.cat(seen)
    assert (ids == 0).sum() > 0 and (ids == 1).sum() > 0  # every step mixes the new task with replayed task 0
    algo.end_task(1, d1)
    assert algo.memory_task_ids() == [0, 1]


def test_ewc_penalty_zero_at_anchor_and_grows_with_fisher_weighted_change() -> None:
    algo = make_algo("ewc", _policy(), AlgoConfig())
    assert isinstance(algo, EWC)
    d0 = _task(0)
    _train(algo, 0, d0, 10)
    assert float(algo.regulariser().detach()) == 0.0  # no finished task yet: no penalty
    algo.end_task(0, d0)
    assert float(algo.penalty().detach()) == 0.0  # at the anchor
    p = next(algo.policy.parameters())
    name = next(n for n, _ in algo.policy.named_parameters())
    penalties = []
    for scale in (0.01, 0.1, 1.0):
        with torch.no_grad():
            p.copy_(algo.anchor[name] + scale)
        penalties.append(float(algo.penalty().detach()))
    assert 0 < penalties[0] < penalties[1] < penalties[2]
    expected = float((algo.fisher[name] * torch.ones_like(p)).sum())  # shift of 1.0 everywhere in that tensor
    assert penalties[2] == pytest.approx(expected, rel=1e-5)
    # online blending: F <- gamma F + F_new
    f_before = {n: f.clone() for n, f in algo.fisher.items()}
    algo.end_task(1, _task(1))
    assert all(bool((algo.fisher[n] >= 0.9 * f_before[n] - 1e-12).all()) for n in f_before)


def test_packnet_keeps_earlier_tasks_weights_bit_identical() -> None:
    algo = make_algo("packnet", _policy(), AlgoConfig(keep_frac=0.25, post_prune_steps=10, weight_decay=0.1))
    assert isinstance(algo, PackNet)
    d0, d1 = _task(0), _task(1)
    _train(algo, 0, d0, 20)
    algo.end_task(0, d0)
    snap = {n: p.detach().clone() for n, p in algo.policy.named_parameters()}
    for n, own in algo.owner.items():
        kept = int((own == 0).sum())
        assert kept == max(1, round(0.25 * own.numel()))  # 25 % of the free weights per layer
        assert bool((snap[n][own < 0] == 0).all())  # the rest pruned to zero
    with torch.no_grad(), algo.evaluating(0) as pol:
        b = d0.batch(np.arange(10))
        before = pol.act(b.obs, b.task_ids, b.text).clone()
    _train(algo, 1, d1, 30)
    algo.end_task(1, d1)
    for n, p in algo.policy.named_parameters():
        if n in algo.owner:
            mask = algo.owner[n] == 0
            assert torch.equal(p[mask], snap[n][mask]), n  # bit-identical
            assert int((algo.owner[n] == 1).sum()) > 0
        else:
            assert torch.equal(p, snap[n]), n  # biases frozen after the first task
    with torch.no_grad(), algo.evaluating(0) as pol:
        after = pol.act(b.obs, b.task_ids, b.text)
    assert torch.equal(before, after)  # task 0's network is exactly what it was
    changed = any(not torch.equal(p, snap[n]) for n, p in algo.policy.named_parameters())
    assert changed  # ... while task 1 did train something


def test_multitask_sees_all_tasks() -> None:
    parts = [_task(0), _task(1), _task(2)]
    joint = TaskData.concat(parts)
    algo = make_algo("multitask", _policy(task_embedding="id"))
    assert algo.joint
    b = algo.sample(joint, 300)
    assert set(b.task_ids.tolist()) == {0, 1, 2}
    # history indices stay within each task's rows after concatenation
    assert len(joint) == sum(len(p) for p in parts)
    np.testing.assert_array_equal(joint.obs[joint.hist[len(parts[0])]], parts[1].obs[parts[1].hist[0]])


def test_checkpoint_roundtrip_restores_algorithm_state() -> None:
    for name in ("er", "ewc", "packnet"):
        algo = make_algo(name, _policy(), AlgoConfig(post_prune_steps=2))
        d0 = _task(0)
        _train(algo, 0, d0, 3)
        algo.end_task(0, d0)
        state = algo.state_dict()
        fresh = make_algo(name, _policy(), AlgoConfig(post_prune_steps=2))
        fresh.load_state_dict(state)
        for (n, p), (_, q) in zip(algo.policy.named_parameters(), fresh.policy.named_parameters(), strict=True):
            assert torch.equal(p, q), n
        assert fresh.extra_state().keys() == algo.extra_state().keys()
