"""The imitation core: action heads against torch.distributions, history padding, the BC policy, the loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from skill_rl.imitation.data import BCBatch, DemoSet, PlanWindows, rest_goal_rows
from skill_rl.imitation.heads import (
    HEADS,
    GaussianHead,
    GaussianMixtureHead,
    GMMHead,
    LogisticMixtureHead,
    beta_nll,
    make_head,
)
from skill_rl.imitation.history import ObsHistory, history_index
from skill_rl.imitation.policy import BCConfig, BCPolicy, HistoryPolicy, PolicyLoadError
from skill_rl.imitation.train import FitConfig, NonFiniteLossError, fit, load_checkpoint


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# ----------------------------------------------------------------------------------------------- heads
def _features(b=(6,), dim=8, seed=0):
    return torch.randn(*b, dim, generator=torch.Generator().manual_seed(seed)) * 2


def test_gaussian_log_prob_matches_torch_normal():
    head = GaussianHead(8, 3)
    params = head(_features())
    a = torch.rand(6, 3) * 2 - 1
    expected = Independent(Normal(params[0], params[1]), 1).log_prob(a)
    torch.testing.assert_close(head.log_prob(params, a), expected)
    assert head.log_prob_terms(params, a).shape == (6, 3)


def test_gmm_log_prob_matches_torch_mixture():
    head = GMMHead(8, 3, n_mix=4)
    logits, mean, std = head(_features())
    a = torch.rand(6, 3) * 2 - 1
    ref = MixtureSameFamily(Categorical(logits=logits), Independent(Normal(mean, std), 1))
    torch.testing.assert_close(head.log_prob((logits, mean, std), a), ref.log_prob(a))
    assert head.log_prob_terms((logits, mean, std), a).shape == (6, 1)  # one joint term


def test_per_dim_gaussian_mixture_matches_torch_mixture():
    head = GaussianMixtureHead(8, 3, n_mix=4)
    logits, means, log_stds = head(_features())
    a = torch.rand(6, 3) * 2 - 1
    ref = MixtureSameFamily(Categorical(logits=logits), Normal(means, log_stds.exp()))  # batch (6, 3)
    torch.testing.assert_close(head.log_prob_terms((logits, means, log_stds), a), ref.log_prob(a))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@pytest.mark.parametrize("x,expected_kind", [(-1.0, "bottom"), (-1.5, "bottom"), (1.0, "top"), (2.0, "top"),
                                             (0.25, "mid")])
def test_logistic_edge_bins_take_the_tails(x, expected_kind):
    """The bottom bin is P(a <= -1 + half), the top bin P(a >= 1 - half); actions outside [-1, 1] fall in them."""
    n_bins, mu, s = 64, 0.3, 0.4
    head = LogisticMixtureHead(4, 1, n_mix=1, n_bins=n_bins)
    params = (torch.zeros(1, 1, 1), torch.tensor([[[mu]]]), torch.tensor([[[math.log(s)]]]))
    half = 1.0 / (n_bins - 1)
    p = {"bottom": _sigmoid((-1 + half - mu) / s), "top": 1 - _sigmoid((1 - half - mu) / s),
         "mid": _sigmoid((x + half - mu) / s) - _sigmoid((x - half - mu) / s)}[expected_kind]
    assert float(head.log_prob(params, torch.tensor([[x]]))) == pytest.approx(math.log(p), rel=1e-5)


def test_logistic_bins_sum_to_one_with_mass_at_the_edges():
    """A mixture with much mass beyond [-1, 1]: the bin probabilities over the grid still sum to 1."""
    n_bins = 32
    head = LogisticMixtureHead(4, 2, n_mix=3, n_bins=n_bins)
    logits = torch.zeros(1, 2, 3)
    means = torch.tensor([[[-0.99, 0.0, 0.99], [-1.0, -1.0, 1.0]]])
    log_scales = torch.log(torch.tensor([[[0.5, 0.05, 0.5], [0.3, 0.01, 0.3]]]))
    grid = torch.linspace(-1, 1, n_bins).unsqueeze(-1).expand(-1, 2)  # bin centres, both dims
    expanded = tuple(t.expand(n_bins, -1, -1) for t in (logits, means, log_scales))
    total = torch.exp(head.log_prob_terms(expanded, grid)).sum(0)
    torch.testing.assert_close(total, torch.ones(2), atol=1e-4, rtol=0)


@pytest.mark.parametrize("kind", sorted(HEADS))
def test_sample_and_mode_shapes_and_bounds(kind):
    head = make_head(kind, 8, 3, n_mix=4, n_bins=64)
    with torch.no_grad():
        params = head(_features(b=(5, 7)) * 3)
        for a in (head.sample(params), head.mode(params)):
            assert a.shape == (5, 7, 3) and float(a.abs().max()) <= 1.0
        assert head.variance(params).shape == (5, 7, 3)
        assert head.log_prob(params, torch.zeros(5, 7, 3)).shape == (5, 7)


@pytest.mark.parametrize("kind", ["gaussian", "gmm"])
def test_variance_matches_samples(kind):
    head = make_head(kind, 8, 3, n_mix=3)
    with torch.no_grad():
        head.proj.weight.mul_(0.05)  # keep the mass well inside [-1, 1] (samples are clamped)
        head.proj.bias.zero_()
        if kind == "gaussian":
            head.proj.bias[3:] = math.log(0.1)
        else:  # 3 modes at -0.3, 0, 0.3 with std 0.1 (softplus(-2.25) = 0.1); layout: logits, (means, stds) per mode
            for k in range(3):
                head.proj.bias[3 + 6 * k: 6 + 6 * k] = 0.3 * (k - 1)
                head.proj.bias[6 + 6 * k: 9 + 6 * k] = -2.25
        params = head(_features(b=(2,)))
    torch.manual_seed(0)
    draws = head.sample(tuple(p.unsqueeze(0).expand(40000, *p.shape) for p in params))
    np.testing.assert_allclose(draws.var(0).numpy(), head.variance(params).numpy(), rtol=0.05)


def test_unknown_head_lists_the_available_ones():
    with pytest.raises(ValueError, match="gaussian, gaussian_mixture, gmm, logistic"):
        make_head("flow", 4, 2)


@pytest.mark.parametrize("kind", ["gaussian", "gmm"])
def test_beta_nll_plain_at_zero_and_reweighted_above(kind):
    head = make_head(kind, 8, 3, n_mix=2)
    with torch.no_grad():
        params = head(_features())
    a = torch.rand(6, 3) * 2 - 1
    nll, train = beta_nll(head, params, a, beta=0.0)
    assert float(nll) == pytest.approx(-float(head.log_prob(params, a).mean()), rel=1e-6) and train is nll
    nll1, train1 = beta_nll(head, params, a, beta=0.5)
    assert float(nll1) == pytest.approx(float(nll)) and float(train1) != pytest.approx(float(nll))


# --------------------------------------------------------------------------------------------- history
def test_history_index_pads_with_the_first_frame_and_never_crosses_episodes():
    hist = history_index([0, 3], [3, 5], 3)
    np.testing.assert_array_equal(hist, [[0, 0, 0], [0, 0, 1], [0, 1, 2], [3, 3, 3], [3, 3, 4]])


def test_history_index_rejects_gaps_and_bad_history():
    with pytest.raises(ValueError, match="cover"):
        history_index([0, 4], [3, 6], 2)
    with pytest.raises(ValueError, match="history"):
        history_index([0], [3], 0)


def test_obs_history_pads_at_reset_and_forgets_the_previous_episode():
    h = ObsHistory(3)
    np.testing.assert_array_equal(h.push(np.array([1.0, 1.0])), [[1, 1]] * 3)
    np.testing.assert_array_equal(h.push(np.array([2.0, 2.0])), [[1, 1], [1, 1], [2, 2]])
    h.reset()
    np.testing.assert_array_equal(h.push(np.array([7.0, 7.0])), [[7, 7]] * 3)  # nothing of episode 1
    batch = h.push(np.array([[8.0, 8.0], [9.0, 9.0]]))  # a different batch size starts afresh
    assert batch.shape == (2, 3, 2) and (batch[1] == 9.0).all()


def test_demo_set_histories_and_goals_per_episode():
    obs = np.arange(10, dtype=np.float32).reshape(5, 2)
    acts = np.zeros((5, 1), np.float32)
    demos = DemoSet.from_arrays(obs, acts, [3, 2], history=2, goal=True)
    b = demos.batch(np.array([0, 3, 4]))
    np.testing.assert_array_equal(b.obs.numpy(), [[obs[0], obs[0]], [obs[3], obs[3]], [obs[3], obs[4]]])
    np.testing.assert_array_equal(b.goal.numpy(), [obs[2], obs[4], obs[4]])  # each demo's last observation
    both = DemoSet.concat([demos, demos])
    assert len(both) == 10 and both.hist.min() == 0 and (both.hist[5:] >= 5).all()
    skip = DemoSet.from_arrays(obs, acts, [3, 2], history=2, goal=True, skip_last=True)
    assert len(skip) == 3 and set(skip.rows) == {0, 1, 3}  # the last rows (2, 4) are goals, not samples
    drawn = skip.sample(np.random.default_rng(0), 200)
    np.testing.assert_array_equal(np.unique(drawn.obs[:, -1, 0].numpy()), obs[[0, 1, 3], 0])
    np.testing.assert_array_equal(np.unique(drawn.goal[:, 0].numpy()), obs[[2, 4], 0])
    assert set(DemoSet.concat([demos, skip]).rows) == {0, 1, 2, 3, 4, 5, 6, 8}
    with pytest.raises(ValueError, match="sum to"):
        DemoSet.from_arrays(obs, acts, [3, 3], history=2)



def test_balanced_concat_draws_each_part_equally_often_whatever_its_length():
    """Task-balanced batches: a task with 1 training row is drawn as often as one with 9 (uniform rows: 10 %)."""
    long = DemoSet.from_arrays(np.zeros((10, 2), np.float32), np.zeros((10, 1), np.float32), [10], 1,
                               skip_last=True)  # 9 training rows, obs 0
    short = DemoSet.from_arrays(np.ones((2, 2), np.float32), np.zeros((2, 1), np.float32), [2], 1,
                                skip_last=True)  # 1 training row, obs 1
    rng = np.random.default_rng(0)
    uniform = DemoSet.concat([long, short]).sample(rng, 4000).obs[:, -1, 0].numpy()
    balanced_set = DemoSet.concat([long, short], balanced=True)
    balanced = balanced_set.sample(rng, 4000).obs[:, -1, 0].numpy()
    assert abs(uniform.mean() - 0.1) < 0.03 and abs(balanced.mean() - 0.5) < 0.03
    assert len(balanced_set) == 10 and set(balanced_set.rows) == set(range(9)) | {10}  # goal rows still skipped
    with pytest.raises(ValueError, match="already balanced"):
        DemoSet.concat([balanced_set, short])



def test_hindsight_goals_come_from_the_same_episodes_future():
    """Play-GCBC's relabelling: a row's goal is the observation 2..4 steps later in its own episode (cut at the
    episode's last row), drawn afresh each time."""
    obs = np.arange(20, dtype=np.float32).reshape(10, 2)  # row i: (2i, 2i + 1)
    play = DemoSet.hindsight(obs, np.zeros((10, 1), np.float32), [6, 4], history=2, goal_offsets=(2, 4))
    assert len(play) == 10 and play.goal is None
    b = play.sample(np.random.default_rng(0), 2000)
    row = (b.obs[:, -1, 0].numpy() / 2).astype(int)
    goal_row = (b.goal[:, 0].numpy() / 2).astype(int)
    end = np.where(row < 6, 6, 10)
    assert ((goal_row >= np.minimum(row + 2, end - 1)) & (goal_row <= np.minimum(row + 4, end - 1))).all()
    assert {int(g) for g in goal_row[row == 0]} == {2, 3, 4}  # drawn afresh, every offset in the range
    assert (goal_row[row == 8] == 9).all()  # near the end: the episode's last row
    both = DemoSet.concat([play, play], balanced=True)
    rows = (both.sample(np.random.default_rng(1), 500).goal[:, 0].numpy() / 2).astype(int)
    assert rows.max() <= 9  # the same data twice: offsets kept per part
    with pytest.raises(ValueError, match="goal_offsets"):
        DemoSet.hindsight(obs, np.zeros((10, 1), np.float32), [10], history=2, goal_offsets=(3, 2))
    with pytest.raises(ValueError, match="hindsight goal_offsets"):
        DemoSet.concat([play, DemoSet.from_arrays(obs, np.zeros((10, 1), np.float32), [10], 2, goal=True)])


def test_rest_goals_are_where_what_moved_comes_to_rest():
    """Rest relabelling: a row's goal is the frame where the goal features stop after moving (+ ``after``), never
    across an episode's end; rows with no rest ahead are not trained on; noise below ``tol`` is rest."""
    # one feature: still 0-2, moves 3-5, rests 6-9 (onset 5: the last change), moves 10-11, rests 12-13; episode 2
    # (rows 14-19) never moves
    x = np.array([0, 0, 0, 1, 2, 3, 3, 3, 3, 3, 4, 5, 5, 5, 9, 9, 9, 9, 9, 9], np.float64)
    x[6:10] += [1e-4, -1e-4, 1e-4, 0]  # jitter below tol
    rows = rest_goal_rows(x[:, None], [14, 6], tol=0.01, settle=2, after=1)
    assert rows[:5].tolist() == [6] * 5  # onset 5, + 1
    assert rows[5:11].tolist() == [12] * 6  # next onset 11 (the end of the second move), + 1
    assert rows[11:14].tolist() == [-1] * 3  # nothing moves after row 11 in episode 1
    assert (rows[14:] == -1).all()  # episode 2 never moves (and its first row's jump from row 13 is not a move)
    assert rest_goal_rows(x[:, None], [14, 6], tol=0.01, settle=2, after=9)[0] == 13  # cut at the episode's end
    # stay=3: rows 5-7 and 11-13 (just at rest, nothing moving yet) keep their own onset as the goal
    stays = rest_goal_rows(x[:, None], [14, 6], tol=0.01, settle=2, after=1, stay=3)
    assert stays[:14].tolist() == [6] * 5 + [5] * 3 + [12] * 3 + [11] * 3
    # a move cuts a stay short: onset 5 with stay 8 covers rows 5-9 only (row 10 moves)
    assert rest_goal_rows(x[:, None], [14, 6], tol=0.01, settle=2, after=1, stay=8)[5:11].tolist() == [5] * 5 + [12]
    obs = np.stack([x, np.arange(20.0)], axis=1).astype(np.float32)  # column 1 (the arm) always moves
    play = DemoSet.rest_goals(obs, np.zeros((20, 1), np.float32), [14, 6], history=2, goal_cols=[0], tol=0.01,
                              settle=2, after=1)
    assert len(play) == 11 and set(play.rows.tolist()) == set(range(11))
    b = play.sample(np.random.default_rng(0), 500)
    row, goal_row = b.obs[:, -1, 1].numpy().astype(int), b.goal[:, 1].numpy().astype(int)
    assert (goal_row == np.where(row < 5, 6, 12)).all()
    with pytest.raises(ValueError, match="goal_cols"):
        DemoSet.rest_goals(obs, np.zeros((20, 1), np.float32), [14, 6], 2, goal_cols=[2], tol=0.01, settle=2, after=1)
    with pytest.raises(ValueError, match="nothing to train on"):
        DemoSet.rest_goals(obs, np.zeros((20, 1), np.float32), [14, 6], 2, goal_cols=[0], tol=10.0, settle=2, after=1)
    with pytest.raises(ValueError, match="sum"):
        rest_goal_rows(x[:, None], [10], tol=0.01, settle=2)
    # an episode shorter than settle (play ends one early when an object falls off the table): its end is rest,
    # and the episodes around it are relabelled as before
    short = rest_goal_rows(x[:, None], [4, 10, 6], tol=0.01, settle=5, after=0)
    assert short[:3].tolist() == [3] * 3 and short[3] == -1  # rows 0-2: the move 3 rests at the short episode's end
    assert rest_goal_rows(x[:, None], [14, 6], tol=0.01, settle=2, after=1).tolist() == rows.tolist()


def test_rest_goals_with_away_skip_pauses_while_the_arm_stays_at_what_moved():
    """``away``: a rest counts only once the arm leaves what moved (a push's mid-way pause, arm still at the
    object, is no goal); which thing moved decides which distance counts; bad arguments are clear errors."""
    # object A (cols 0-1): moves 1-2, rests 3-6 (arm at A), moves 7-8, rests 9-15 (arm leaves A at row 12);
    # object B (col 2) moves 16-17 and the episode ends at rest with the arm still at B
    a = np.array([0, 1, 2, 2, 2, 2, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], np.float64)
    b = np.array([0] * 16 + [1, 2, 2, 2], np.float64)
    feats = np.stack([a, a, b], axis=1)
    dist = np.full((20, 2), 0.05)
    dist[12:16, 0] = 0.3  # the arm away from A
    plain = rest_goal_rows(feats, [20], tol=0.01, settle=2, after=0)
    assert plain[0] == 2 and plain[3] == 8  # the pause at 2 is a rest without away
    away = rest_goal_rows(feats, [20], tol=0.01, settle=2, after=0, away=0.1, arm_dist=dist, groups=[0, 0, 1])
    assert away[:8].tolist() == [8] * 8  # the pause (onset 2) is skipped: the arm never left A before row 7
    assert away[8:17].tolist() == [17] * 9  # B's onset 17 counts: the episode ends after it
    stays = rest_goal_rows(feats, [20], tol=0.01, settle=2, after=0, stay=3, away=0.1, arm_dist=dist,
                           groups=[0, 0, 1])
    assert stays[2:11].tolist() == [8] * 6 + [8] * 3  # no stay at the skipped pause; rows 8-10 stay at onset 8
    # the arm away from *B* (not what moved) during A's pause and rest: neither of A's rests counts
    dist_b = np.full((20, 2), 0.05)
    dist_b[3:16, 1] = 0.3
    assert rest_goal_rows(feats, [20], tol=0.01, settle=2, away=0.1, arm_dist=dist_b, groups=[0, 0, 1])[0] == 17
    with pytest.raises(ValueError, match="arm_dist"):
        rest_goal_rows(feats, [20], tol=0.01, settle=2, away=0.1)
    with pytest.raises(ValueError, match="groups"):
        rest_goal_rows(feats, [20], tol=0.01, settle=2, away=0.1, arm_dist=dist, groups=[0, 2, 1])
    with pytest.raises(ValueError, match="away >= 0"):
        rest_goal_rows(feats, [20], tol=0.01, settle=2, away=-1.0)


def test_rest_goals_before_the_approach_stay_or_drop():
    """``before_approach``: rows with a goal ahead that come before the arm's approach to what moves next (here a
    reach away, rows 0-2) get their own frame as goal ("stay") or none ("drop"); the approach keeps its goal."""
    x = np.array([0] * 8 + [1, 2] + [2] * 6, np.float64)[:, None]  # moves at rows 8-9, rest onset 9
    dist = np.array([0.30, 0.32, 0.35, 0.40, 0.30, 0.20, 0.10, 0.02] + [0.0] * 8)[:, None]
    kw = dict(tol=0.01, settle=2, after=1, arm_dist=dist, groups=[0])
    assert rest_goal_rows(x, [16], **kw)[:9].tolist() == [10] * 9
    assert rest_goal_rows(x, [16], before_approach="stay", **kw)[:9].tolist() == [0, 1, 2] + [10] * 6
    assert rest_goal_rows(x, [16], before_approach="drop", **kw)[:9].tolist() == [-1] * 3 + [10] * 6
    # a slack above the reach's rises (5 cm) reads the whole lead-in as approach
    assert rest_goal_rows(x, [16], before_approach="stay", approach_slack=0.06, **kw)[:9].tolist() == [10] * 9
    with pytest.raises(ValueError, match="before_approach"):
        rest_goal_rows(x, [16], before_approach="skip", **kw)
    with pytest.raises(ValueError, match="arm_dist"):
        rest_goal_rows(x, [16], tol=0.01, settle=2, before_approach="stay")


def test_rest_goals_far_judges_each_row_so_a_bump_in_the_approach_does_not_cut_it():
    """``before_approach="far"``: a row far from what moves next (> approach_far) and not closing in on it by
    approach_slack over approach_steps is a stay; the walk back of "stay" ends at the approach's first bump (row 6
    is 2 cm farther than row 5) and calls the approach's start a stay too."""
    x = np.array([0] * 9 + [1, 2] + [2] * 6, np.float64)[:, None]  # moves at rows 9-10, rest onset 10
    dist = np.array([0.30, 0.32, 0.31, 0.33, 0.305, 0.20, 0.22, 0.10, 0.02] + [0.0] * 8)[:, None]
    kw = dict(tol=0.01, settle=2, after=1, arm_dist=dist, groups=[0], approach_steps=2)
    assert rest_goal_rows(x, [17], before_approach="far", **kw)[:10].tolist() == [0, 1, 2] + [11] * 7
    assert rest_goal_rows(x, [17], before_approach="stay", **kw)[:10].tolist() == [0, 1, 2, 3, 4, 5] + [11] * 4
    # nothing is farther than 35 cm: no stays
    assert rest_goal_rows(x, [17], before_approach="far", approach_far=0.35, **kw)[:10].tolist() == [11] * 10
    with pytest.raises(ValueError, match="approach_steps"):
        rest_goal_rows(x, [17], before_approach="far", **{**kw, "approach_steps": 0})


def test_rest_goals_lift_peaks_give_a_put_back_lift_its_highest_frame():
    """``lift_rise``: an object lifted more than lift_rise and put back where it was (the player's lift) makes the
    rows before its highest frame aim at that frame; the rest after it looks like the rest before it, so the rest
    goal alone never shows a lifted object. A lift that ends elsewhere (a place) keeps its rest goal."""
    z = np.array([0.0] * 5 + [0.02, 0.04, 0.06, 0.08, 0.10, 0.07, 0.04, 0.01] + [0.0] * 7)  # peak at row 9
    x = np.zeros_like(z)
    lift = np.stack([x, x, z, np.full_like(z, 0.3)], axis=1)  # an object (x, y, z) and a drawer opening
    kw = dict(tol=1e-3, settle=2, after=0, groups=[0, 0, 0, 1])
    plain = rest_goal_rows(lift, [20], **kw)
    assert plain[:14].tolist() == [13] * 13 + [-1]  # the last move, row 13, is the rest every row before aims at
    lifted = rest_goal_rows(lift, [20], lift_rise=0.05, **kw)
    assert lifted[:14].tolist() == [9] * 9 + [13] * 4 + [-1]
    assert (lifted[14:] == plain[14:]).all()
    placed = lift.copy()
    placed[10:, 0] = np.linspace(0.01, 0.1, 3).tolist() + [0.1] * 7  # set down 10 cm away: a place, not a lift
    assert (rest_goal_rows(placed, [20], lift_rise=0.05, **kw) == rest_goal_rows(placed, [20], **kw)).all()
    with pytest.raises(ValueError, match="lift_rise"):
        rest_goal_rows(lift, [20], tol=1e-3, settle=2, lift_rise=0.05)


# ---------------------------------------------------------------------------------------------- policy
def _policy(goal: bool = False, **kw) -> BCPolicy:
    torch.manual_seed(0)
    pol = BCPolicy(BCConfig(obs_dim=2, act_dim=2, hidden=32, goal_index=[0, 1] if goal else None, **kw))
    pol.set_normaliser(np.zeros(2), np.full(2, 0.5))
    return pol


def test_acting_sees_the_same_history_as_training():
    """HistoryPolicy's online history gives the same actions as the training batches' history indices."""
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(6, 2)).astype(np.float32)
    demos = DemoSet.from_arrays(obs, np.zeros((6, 2), np.float32), [6], history=3, goal=True)
    model = _policy(goal=True, history=3)
    b = demos.batch(np.arange(6))
    offline = model.act(b.obs, b.goal).numpy()
    policy = HistoryPolicy(model)
    policy.reset()
    online = np.stack([policy.act(o, obs[-1]) for o in obs])
    np.testing.assert_allclose(online, offline, rtol=1e-5, atol=1e-6)


def test_goal_of_the_wrong_layout_is_a_clear_error():
    policy = HistoryPolicy(_policy(goal=True))
    policy.reset()
    with pytest.raises(ValueError, match="goal observations"):
        policy.act(np.zeros(2), np.zeros(5))
    with pytest.raises(ValueError, match="needs a goal"):
        policy.act(np.zeros(2))
    with pytest.raises(ValueError, match="goal_index"):
        BCConfig(obs_dim=2, act_dim=1, goal_index=[2])


def test_save_load_same_action_and_bad_files(tmp_path):
    policy = HistoryPolicy(_policy(goal=True))
    path = policy.save(tmp_path / "policy.pt", meta={"task": "x"})
    loaded = HistoryPolicy.load(path)
    for p in (policy, loaded):
        p.reset()
    for o in np.random.default_rng(1).normal(size=(4, 2)):
        np.testing.assert_array_equal(policy.act(o, [0.3, 0.1]), loaded.act(o, [0.3, 0.1]))
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    with pytest.raises(PolicyLoadError, match="bad.pt"):
        HistoryPolicy.load(tmp_path / "bad.pt")
    with pytest.raises(PolicyLoadError, match="not found"):
        HistoryPolicy.load(tmp_path / "missing.pt")


# ------------------------------------------------------------------------------------------------ loop
def _regression(n=512, seed=0):
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1, 1, size=(n, 2)).astype(np.float32)
    acts = np.tanh(obs @ np.array([[1.0, -0.5], [0.5, 1.0]], np.float32))
    return DemoSet.from_arrays(obs, acts, [n], history=1)


def test_fit_learns_and_resumes_exactly(tmp_path):
    """Killed after its checkpoint at step 20 and run again, fit ends where an uninterrupted run ends."""
    demos = _regression()
    cfg = FitConfig(steps=40, batch_size=32, ckpt_every=20, log_every=10, seed=3)

    def run(ckpt, fail_at=None):
        torch.manual_seed(0)
        model = BCPolicy(BCConfig(obs_dim=2, act_dim=2, history=1, hidden=32))
        model.set_normaliser(demos.obs.mean(0), demos.obs.std(0))
        calls = [0]

        def sample(rng, n):
            calls[0] += 1
            if calls[0] == fail_at:
                raise KeyboardInterrupt
            return demos.sample(rng, n)

        return model, fit(model, sample, cfg, ckpt_path=ckpt)

    whole, summary = run(tmp_path / "a.pt")
    assert summary["final"]["nll"] < summary["first"]["nll"]
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b.pt", fail_at=25)
    assert load_checkpoint(tmp_path / "b.pt")["step"] == 20
    resumed, summary_b = run(tmp_path / "b.pt")
    assert summary_b["resumed_from"] == 20
    for (k, v), (_, w) in zip(whole.state_dict().items(), resumed.state_dict().items(), strict=True):
        torch.testing.assert_close(v, w, msg=k)


def test_fit_stops_on_a_non_finite_loss_before_applying_it(tmp_path):
    demos = _regression()
    model = _policy(history=1)
    calls = [0]

    def loss(batch: BCBatch):
        calls[0] += 1
        out = model.loss(batch)
        return out._replace(total=out.total * float("nan")) if calls[0] == 7 else out

    with pytest.raises(NonFiniteLossError, match="step 7: the loss is not finite"):
        fit(model, demos.sample, FitConfig(steps=10, ckpt_every=5), loss=loss, ckpt_path=tmp_path / "c.pt")
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 5


@pytest.mark.parametrize("goal_film", [False, True])
def test_goal_conditioned_bc_reaches_held_out_goals_better_than_random(goal_film):
    """A point mass (p' = p + 0.05 a) shown noisy straight-line demos to random goals reaches goals it never
    saw as well: the goal input is used, not memorised trajectories."""
    rng = np.random.default_rng(0)
    obs, acts, lengths = [], [], []
    for _ in range(60):
        p, g = rng.uniform(-0.8, 0.8, 2), rng.uniform(-0.8, 0.8, 2)
        n = 0
        while np.linalg.norm(g - p) > 0.02 and n < 60:
            a = np.clip((g - p) / 0.05, -1, 1)
            obs.append(p.copy())
            acts.append(a)
            p = np.clip(p + 0.05 * np.clip(a + rng.normal(0, 0.3, 2), -1, 1), -1, 1)  # DART: noise executed
            n += 1
        obs.append(p.copy())
        acts.append(np.zeros(2))
        lengths.append(n + 1)
    demos = DemoSet.from_arrays(np.asarray(obs), np.asarray(acts), lengths, history=1, goal=True)
    torch.manual_seed(0)
    model = BCPolicy(BCConfig(obs_dim=2, act_dim=2, history=1, hidden=64, goal_index=[0, 1], goal_film=goal_film))
    model.set_normaliser(demos.obs.mean(0), demos.obs.std(0))
    fit(model, demos.sample, FitConfig(steps=1500, batch_size=64, lr=3e-3, lr_min=3e-4))
    policy = HistoryPolicy(model)

    def success(act) -> float:
        test = np.random.default_rng(123)
        hits = 0
        for _ in range(30):
            p, g = test.uniform(-0.8, 0.8, 2), test.uniform(-0.8, 0.8, 2)
            policy.reset()
            for _ in range(60):
                p = np.clip(p + 0.05 * np.clip(act(p, g), -1, 1), -1, 1)
                if np.linalg.norm(g - p) < 0.05:
                    hits += 1
                    break
        return hits / 30

    random = np.random.default_rng(7)
    learned, chance = success(policy.act), success(lambda p, g: random.uniform(-1, 1, 2))
    assert learned >= 0.8 and learned > chance + 0.5, (learned, chance)


def test_goal_delta_feeds_goal_minus_the_newest_frame():
    model = _policy(goal=True, history=2, goal_delta=True)
    obs = torch.tensor([[[0.0, 1.0], [0.5, 2.0]]])  # (B=1, H=2, D=2): the newest frame is [0.5, 2.0]
    goal = torch.tensor([[1.5, 1.0]])
    x = model.inputs(obs, goal)
    assert x.shape == (1, 2 * 2 + 2 * 2)
    g, last = goal[0] / 0.5, obs[0, -1] / 0.5  # the fixture's normaliser: mean 0, std 0.5
    torch.testing.assert_close(x[0, 4:6], g)
    torch.testing.assert_close(x[0, 6:], g - last)


def test_film_starts_as_the_plain_mlp_and_then_the_goal_gates_every_layer(tmp_path):
    """Zero-initialised, the FiLM trunk computes the plain trunk's function; once its conditioning layer has
    weights, the same observation with another goal gives other hidden features. Saved and loaded, it acts the
    same; without a goal it is a clear error."""
    film, plain = _policy(goal=True, goal_film=True), _policy(goal=True)
    linears = [m for m in plain.net.trunk.modules() if isinstance(m, torch.nn.Linear)]
    for mine, theirs in zip(film.net.trunk.linears, linears, strict=True):
        mine.load_state_dict(theirs.state_dict())
    film.net.head.load_state_dict(plain.net.head.state_dict())
    obs, goal = torch.randn(5, 2, 2), torch.randn(5, 2)
    for a, b in zip(film.params(obs, goal), plain.params(obs, goal), strict=True):
        torch.testing.assert_close(a, b)
    torch.nn.init.normal_(film.net.trunk.film[-1].weight, std=0.5)
    same_obs = obs[:1].expand(2, -1, -1)
    x = film.inputs(same_obs, torch.tensor([[0.5, -0.5], [-0.5, 0.5]]))
    cond = x[:, -film.cfg.goal_dim:]
    gated = film.net.trunk(x, cond)
    ungated = film.net.trunk(x, torch.zeros_like(cond))
    assert not torch.allclose(gated[0], gated[1]) and not torch.allclose(gated, ungated)

    policy = HistoryPolicy(film)
    loaded = HistoryPolicy.load(policy.save(tmp_path / "film.pt"))
    assert loaded.config.goal_film
    for p in (policy, loaded):
        p.reset()
    np.testing.assert_array_equal(policy.act([0.1, 0.2], [0.3, 0.1]), loaded.act([0.1, 0.2], [0.3, 0.1]))
    with pytest.raises(ValueError, match="goal_film and latent_dim need a goal"):
        BCConfig(obs_dim=2, act_dim=1, goal_film=True)
    with pytest.raises(ValueError, match="FiLM-conditioned"):
        film.net(x)


# ------------------------------------------------------------------------------------------------ latent plans
def test_plan_windows_stay_in_one_episode_and_end_at_their_goal():
    """Each window is k consecutive steps of one episode (k in the window range, cut at the episode's end), its
    goal the frame right after it, padding masked, and the policy rows drawn inside it with their histories."""
    lengths = [30, 12, 50]
    obs = np.arange(sum(lengths), dtype=np.float32)[:, None].repeat(2, 1)  # obs value = its row
    demos = DemoSet.from_arrays(obs, obs.copy(), lengths, history=2)
    windows = PlanWindows(demos, (5, 20), plan_steps=4)
    b = windows.sample(np.random.default_rng(0), 200)
    ends = np.cumsum(lengths)
    for i in range(200):
        k = int(b.mask[i].sum())
        first = int(b.window_obs[i, 0, 0])
        real = b.window_obs[i, :k, 0].numpy()
        episode_end = ends[np.searchsorted(ends, first, side="right")]
        assert 5 <= k <= 20 and first + k < episode_end  # the goal frame is in the same episode
        np.testing.assert_array_equal(real, np.arange(first, first + k))
        assert not b.mask[i, k:].any() and float(b.goal[i, 0]) == first + k
        picked = b.obs[i, :, -1, 0].numpy()  # the newest frame of each policy row's history
        assert ((picked >= first) & (picked < first + k)).all()
        np.testing.assert_array_equal(b.actions[i, :, 0].numpy(), picked)  # actions are their rows' own
    with pytest.raises(ValueError, match="longer than the shortest window"):
        PlanWindows(demos, (60, 70))


def test_plan_windows_on_rest_goals_run_from_their_start_to_its_rest_goal():
    """On rest-relabelled play a window runs from its start row to that row's goal row (the goal frame right
    after it); starts whose goal is further ahead than the window's upper bound are not drawn."""
    x = np.array([0, 0, 0, 1, 2, 3, 3, 3, 3, 3, 4, 5, 5, 5, 5, 5], np.float32)  # onsets 5 and 11
    obs = np.stack([x, np.arange(16, dtype=np.float32)], axis=1)  # column 1 = the row
    demos = DemoSet.concat([DemoSet.rest_goals(obs, obs.copy(), [16], history=2, goal_cols=[0], tol=0.01,
                                               settle=2, after=0)])
    assert demos.goal_rows is not None and demos.goal_rows[:11].tolist() == [5] * 5 + [11] * 6
    b = PlanWindows(demos, (1, 5), plan_steps=3).sample(np.random.default_rng(0), 300)
    firsts = b.window_obs[:, 0, 1].numpy().astype(int)
    assert set(firsts.tolist()) == {0, 1, 2, 3, 4, 6, 7, 8, 9, 10}  # row 5's goal (11) is 6 steps ahead
    for i, first in enumerate(firsts):
        goal = 5 if first < 5 else 11
        k = int(b.mask[i].sum())
        assert k == goal - first and float(b.goal[i, 1]) == goal
        np.testing.assert_array_equal(b.window_obs[i, :k, 1].numpy(), np.arange(first, goal))
    late = DemoSet.rest_goals(obs, obs.copy(), [16], history=2, goal_cols=[0], tol=0.01, settle=2, after=3)
    with pytest.raises(ValueError, match="rest goal lies 1-2 steps ahead"):  # every goal is >= 4 steps ahead
        PlanWindows(late, (1, 2))


def test_plan_windows_on_rest_goals_with_stays_cover_the_stay_rows():
    """With ``rest_stay`` a stay row starts a window of itself and the stay rows after it at the same rest
    (capped at the window's upper bound), whose goal is that rest (a row at or before the window's start)."""
    x = np.array([0, 0, 0, 1, 2, 3, 3, 3, 3, 3, 4, 5, 5, 5, 5, 5], np.float32)  # onsets 5 and 11
    obs = np.stack([x, np.arange(16, dtype=np.float32)], axis=1)
    demos = DemoSet.rest_goals(obs, obs.copy(), [16], history=2, goal_cols=[0], tol=0.01, settle=2, after=0, stay=4)
    assert demos.goal_rows is not None and demos.goal_rows[:16].tolist() == [5] * 9 + [11, 11] + [11] * 4 + [-1]
    b = PlanWindows(demos, (1, 3), plan_steps=3).sample(np.random.default_rng(0), 400)
    firsts = b.window_obs[:, 0, 1].numpy().astype(int)
    assert {5, 6, 7, 8, 11, 12, 13, 14} <= set(firsts.tolist())  # the stay rows start windows
    for i, first in enumerate(firsts):
        k, goal = int(b.mask[i].sum()), int(b.goal[i, 1])
        if first in (5, 6, 7, 8):  # the stay at rest 5 runs through row 8
            assert goal == 5 and k == min(9 - first, 3)
        elif first >= 11:  # the stay at rest 11 runs through row 14
            assert goal == 11 and k == min(15 - first, 3)
        else:
            assert goal == (5 if first < 5 else 11) and k == goal - first
        np.testing.assert_array_equal(b.window_obs[i, :k, 1].numpy(), np.arange(first, first + k))
        assert ((b.obs[i, :, -1, 1] >= first) & (b.obs[i, :, -1, 1] < first + k)).all()  # policy rows inside


def test_latent_plan_policy_acts_with_the_proposals_mean_and_checks_z(tmp_path):
    model = _policy(goal=True, latent_dim=3, goal_film=True)
    obs, goal = torch.randn(4, 2, 2), torch.randn(4, 2)
    z = model.propose(obs[:, -1], goal).mean
    for a, b in zip(model.params(obs, goal), model.params(obs, goal, z), strict=True):
        torch.testing.assert_close(a, b)
    assert not torch.allclose(model.params(obs, goal, z + 1.0)[0], model.params(obs, goal, z)[0])  # z matters
    with pytest.raises(ValueError, match=r"z must be \(B, 3\)"):
        model.params(obs, goal, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="latent_dim need a goal"):
        BCConfig(obs_dim=2, act_dim=1, latent_dim=4)
    policy = HistoryPolicy(model)
    loaded = HistoryPolicy.load(policy.save(tmp_path / "lmp.pt"))
    for p in (policy, loaded):
        p.reset()
    np.testing.assert_array_equal(policy.act([0.1, 0.2], [0.3, 0.1]), loaded.act([0.1, 0.2], [0.3, 0.1]))


@pytest.mark.parametrize("stride", [1, 3])
def test_plan_learner_trains_recognition_proposal_and_policy_together(stride):
    """On windows whose actions depend on which of two plans the window follows (not visible in its first
    frame or goal), the recognition network's z lowers the action NLL below what the proposal's z gives."""
    from skill_rl.imitation.lmp import PlanLearner

    rng = np.random.default_rng(0)
    obs, acts, lengths = [], [], []
    for _ in range(80):  # state stays at 0; the episode's action is +0.5 or -0.5 throughout (a hidden plan)
        sign = rng.choice([-0.5, 0.5])
        obs.append(np.zeros((20, 2), np.float32) + rng.normal(0, 0.01, (20, 2)))
        acts.append(np.full((20, 1), sign, np.float32))
        lengths.append(20)
    demos = DemoSet.from_arrays(np.concatenate(obs), np.concatenate(acts), lengths, history=1)
    torch.manual_seed(0)
    model = BCPolicy(BCConfig(obs_dim=2, act_dim=1, history=1, hidden=32, goal_index=[0, 1], latent_dim=2))
    model.set_normaliser(np.zeros(2), np.ones(2))
    learner = PlanLearner(model, kl_beta=0.01, rnn_hidden=16, stride=stride)
    windows = PlanWindows(demos, (4, 10), plan_steps=4)
    fit(learner, windows.sample, FitConfig(steps=400, batch_size=16, lr=3e-3))
    b = windows.sample(np.random.default_rng(1), 64)
    with torch.no_grad():
        every = slice(None, None, stride)
        q = learner.recognition(model.norm(b.window_obs[:, every]), b.window_actions[:, every], b.mask[:, every])
        z_post = q.mean.repeat_interleave(4, dim=0)
        flat, goal = b.obs.flatten(0, 1), b.goal.repeat_interleave(4, dim=0)
        acts = b.actions.flatten(0, 1)
        err_post = (model.net.mode(model.params(flat, goal, z_post)) - acts).abs().mean()
        err_prior = (model.net.mode(model.params(flat, goal)) - acts).abs().mean()
    assert err_post < 0.1 < err_prior, (float(err_post), float(err_prior))
    with pytest.raises(ValueError, match="latent_dim > 0"):
        PlanLearner(_policy(goal=True))


def test_prior_plan_rows_train_the_policy_on_the_proposals_plan_not_the_proposal():
    """PlanRowsBatch's rows are acted on with Ψ's (detached) mean plan, as when deployed: they train the policy,
    while Ψ itself gets gradient from the KL only; the NLL is the mean over both parts' rows."""
    from skill_rl.imitation.data import BCBatch
    from skill_rl.imitation.heads import beta_nll
    from skill_rl.imitation.lmp import PlanLearner, PlanRowsBatch
    from skill_rl.play.ladder import BCRecipe, train_bc

    rng = np.random.default_rng(0)
    obs = rng.normal(0, 1, (200, 2)).astype(np.float32)
    demos = DemoSet.from_arrays(obs, np.tanh(obs[:, :1]), [20] * 10, history=1)
    torch.manual_seed(0)
    model = BCPolicy(BCConfig(obs_dim=2, act_dim=1, history=1, hidden=16, goal_index=[0, 1], latent_dim=2))
    model.set_normaliser(np.zeros(2), np.ones(2))
    learner = PlanLearner(model, kl_beta=0.0, rnn_hidden=8)
    plan = PlanWindows(demos, (4, 8), plan_steps=4).sample(rng, 3)
    rows = BCBatch(torch.as_tensor(obs[:5, None]), torch.as_tensor(np.tanh(obs[:5, :1])), torch.as_tensor(obs[5:10]))
    out = learner.loss(PlanRowsBatch(plan, rows))
    out.total.backward()
    assert model.proposal is not None
    assert all(p.grad is None or not p.grad.any() for p in model.proposal.parameters())  # KL weight 0: no gradient
    assert any(p.grad is not None and p.grad.any() for p in model.net.parameters())
    with torch.no_grad():  # the NLL: 12 window rows and 5 rows, weighted by their counts
        z = model.propose(rows.obs[:, -1], rows.goal).mean
        nll_rows, _ = beta_nll(model.net.head, model.params(rows.obs, rows.goal, z), rows.actions)
    # the window part draws its own z, so compare with a recomputation under the same generator state
    torch.manual_seed(1)
    both = learner.loss(PlanRowsBatch(plan, rows)).nll
    torch.manual_seed(1)
    window_nll = learner.loss(plan).nll
    torch.testing.assert_close(both, (window_nll * 12 + nll_rows * 5) / 17)
    with pytest.raises(ValueError, match="prior_rows"):
        BCRecipe(prior_rows=1.0, latent_dim=4)
    with pytest.raises(ValueError, match="latent_dim"):  # no plan to act on: refused before the data is read
        train_bc(["never-read.hdf5"], BCRecipe(prior_rows=0.5), seed=0, goal=True)
