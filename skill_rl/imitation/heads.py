"""Action heads: features (..., H) -> a distribution over actions (..., A) in [-1, 1].

Every head maps features to a tuple of tensors ``params`` (``forward``) and offers, on those params:

* ``log_prob_terms(params, a)``: the log-likelihood split into independent terms, (..., A) for heads that
  factorise over action dims, (..., 1) for a joint mixture; ``log_prob`` sums them to (...,);
* ``variance(params)`` (..., A): each action dim's predicted variance (β-NLL weights, calibration);
* ``sample(params)`` and ``mode(params)`` (..., A), both clamped to [-1, 1].

Heads (``make_head(kind, ...)``):

* ``gaussian``: diagonal Gaussian, tanh mean, ``std = exp(clamp(log_std, -7, 2)) + min_std``; the mode is
  the mean, a smooth regression target. The recipe that learns on the scripted demos (``docs/lifelong.md``).
* ``gmm``: a K-mode mixture of diagonal Gaussians over the whole action vector (LIBERO's / robomimic's GMM
  head; softplus std + ``min_std``); the mode is the most likely component's mean.
* ``gaussian_mixture``: a K-component Gaussian mixture *per action dim* (Play-LMP's ``head: gaussian``).
* ``logistic``: a discretised mixture of logistics per action dim (PixelCNN++; Lynch et al.'s Play-LMP
  decoder, CALVIN): each dim quantised into ``n_bins`` bins on [-1, 1], the edge bins take the tails.

:func:`beta_nll` is the β-NLL loss (Seitzer et al., ICLR 2022) over any head.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Normal

__all__ = ["HEADS", "ActionHead", "GMMHead", "GaussianHead", "GaussianMixtureHead", "LogisticMixtureHead",
           "beta_nll", "make_head", "mixture_variance"]

LOG_SCALE_MIN = -7.0
Params = tuple[torch.Tensor, ...]


class ActionHead(nn.Module):
    """Base of every head: ``proj`` (a Linear from features to raw params) and the shared API."""

    act_dim: int
    proj: nn.Linear

    def log_prob_terms(self, params: Params, actions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def log_prob(self, params: Params, actions: torch.Tensor) -> torch.Tensor:
        """log p(actions) (...,); actions (..., A)."""
        return self.log_prob_terms(params, actions).sum(-1)

    def variance(self, params: Params) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, params: Params) -> torch.Tensor:
        raise NotImplementedError

    def mode(self, params: Params) -> torch.Tensor:
        raise NotImplementedError


class GaussianHead(ActionHead):
    """Diagonal Gaussian; params (mean, std), each (..., A)."""

    def __init__(self, in_dim: int, act_dim: int, min_std: float = 1e-4, **_: object) -> None:
        super().__init__()
        self.act_dim, self.min_std = act_dim, float(min_std)
        self.proj = nn.Linear(in_dim, 2 * act_dim)

    def forward(self, h: torch.Tensor) -> Params:
        mean, log_std = self.proj(h).split(self.act_dim, dim=-1)
        return torch.tanh(mean), log_std.clamp(LOG_SCALE_MIN, 2.0).exp() + self.min_std

    def log_prob_terms(self, params: Params, actions: torch.Tensor) -> torch.Tensor:
        mean, std = params
        return Normal(mean, std).log_prob(actions)

    def variance(self, params: Params) -> torch.Tensor:
        return params[1] ** 2

    def sample(self, params: Params) -> torch.Tensor:
        mean, std = params
        return (mean + std * torch.randn_like(mean)).clamp(-1.0, 1.0)

    def mode(self, params: Params) -> torch.Tensor:
        return params[0]


class GMMHead(ActionHead):
    """K-mode mixture of diagonal Gaussians over the whole action vector.

    params (logits (..., K), means (..., K, A), stds (..., K, A)); raw layout of ``proj``: K logits, then per
    mode A means and A raw stds (the lifelong policies' layout, so their weights keep their meaning).
    """

    def __init__(self, in_dim: int, act_dim: int, n_mix: int = 5, min_std: float = 1e-4, **_: object) -> None:
        super().__init__()
        self.act_dim, self.n_mix, self.min_std = act_dim, n_mix, float(min_std)
        self.proj = nn.Linear(in_dim, n_mix * (2 * act_dim + 1))

    def forward(self, h: torch.Tensor) -> Params:
        out = self.proj(h)
        k, a = self.n_mix, self.act_dim
        logits = out[..., :k]
        mean, raw_std = out[..., k:].reshape(*out.shape[:-1], k, 2 * a).split(a, dim=-1)
        return logits, torch.tanh(mean), F.softplus(raw_std) + self.min_std

    def log_prob_terms(self, params: Params, actions: torch.Tensor) -> torch.Tensor:
        logits, mean, std = params
        comp = Normal(mean, std).log_prob(actions.unsqueeze(-2)).sum(-1)  # (..., K)
        return torch.logsumexp(F.log_softmax(logits, -1) + comp, dim=-1, keepdim=True)

    def variance(self, params: Params) -> torch.Tensor:
        logits, mean, std = params
        w = torch.softmax(logits, -1).unsqueeze(-1)  # (..., K, 1)
        mu = (w * mean).sum(-2)
        return ((w * (std.clamp(max=1.0) ** 2 + mean ** 2)).sum(-2) - mu ** 2).clamp(min=1e-12)

    def _pick(self, params: Params, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, mean, std = params
        idx = k[..., None, None].expand(*k.shape, 1, self.act_dim)
        return mean.gather(-2, idx).squeeze(-2), std.gather(-2, idx).squeeze(-2)

    def sample(self, params: Params) -> torch.Tensor:
        mu, std = self._pick(params, Categorical(logits=params[0]).sample())
        return (mu + std * torch.randn_like(mu)).clamp(-1.0, 1.0)

    def mode(self, params: Params) -> torch.Tensor:
        return self._pick(params, params[0].argmax(-1))[0]


class _PerDimMixture(ActionHead):
    """One K-component mixture per action dim; params (logits, means, log_scales), each (..., A, K)."""

    def __init__(self, in_dim: int, act_dim: int, n_mix: int = 5) -> None:
        super().__init__()
        self.act_dim, self.n_mix = act_dim, n_mix
        self.proj = nn.Linear(in_dim, 3 * act_dim * n_mix)

    def _raw(self, h: torch.Tensor) -> Params:
        out = self.proj(h).view(*h.shape[:-1], self.act_dim, 3 * self.n_mix)
        return out.split(self.n_mix, dim=-1)

    def mode(self, params: Params) -> torch.Tensor:
        """The mean of each dim's most probable component, (..., A)."""
        logits, means, _ = params
        return means.gather(-1, logits.argmax(-1, keepdim=True)).squeeze(-1).clamp(-1.0, 1.0)

    def _component(self, params: Params) -> tuple[torch.Tensor, torch.Tensor]:
        logits, means, log_scales = params
        k = Categorical(logits=logits).sample().unsqueeze(-1)
        return means.gather(-1, k).squeeze(-1), log_scales.gather(-1, k).squeeze(-1)


class LogisticMixtureHead(_PerDimMixture):
    """Discretised mixture of logistics per action dim (see the module docstring)."""

    def __init__(self, in_dim: int, act_dim: int, n_mix: int = 5, n_bins: int = 256, **_: object) -> None:
        super().__init__(in_dim, act_dim, n_mix)
        if n_bins < 2:
            raise ValueError(f"n_bins must be >= 2, got {n_bins}")
        self.n_bins = n_bins

    def forward(self, h: torch.Tensor) -> Params:
        logits, means, log_scales = self._raw(h)
        return logits, torch.tanh(means), log_scales.clamp(min=LOG_SCALE_MIN)

    def log_prob_terms(self, params: Params, actions: torch.Tensor) -> torch.Tensor:
        """log P(the bin of each action dim) (..., A); actions (..., A), clamped to [-1, 1]."""
        logits, means, log_scales = params
        x = actions.clamp(-1.0, 1.0).unsqueeze(-1)  # (..., A, 1)
        half = 1.0 / (self.n_bins - 1)
        inv_s = torch.exp(-log_scales)
        centred = x - means
        plus_in = inv_s * (centred + half)
        min_in = inv_s * (centred - half)
        log_cdf_plus = plus_in - F.softplus(plus_in)  # log sigmoid(plus_in): the bottom bin
        log_one_minus_cdf_min = -F.softplus(min_in)  # log(1 - sigmoid(min_in)): the top bin
        cdf_delta = torch.sigmoid(plus_in) - torch.sigmoid(min_in)
        mid_in = inv_s * centred
        log_pdf_mid = mid_in - log_scales - 2.0 * F.softplus(mid_in)  # when the CDF difference underflows
        log_mid = torch.where(cdf_delta > 1e-5, torch.log(cdf_delta.clamp(min=1e-12)),
                              log_pdf_mid - math.log((self.n_bins - 1) / 2))
        edge = 1.0 - 1e-3
        log_probs = torch.where(x < -edge, log_cdf_plus, torch.where(x > edge, log_one_minus_cdf_min, log_mid))
        return torch.logsumexp(log_probs + F.log_softmax(logits, dim=-1), dim=-1)

    def variance(self, params: Params) -> torch.Tensor:
        """A logistic of scale s has variance s^2 pi^2 / 3."""
        logits, means, log_scales = params
        return mixture_variance(logits, means, torch.exp(2.0 * log_scales) * (math.pi ** 2 / 3.0))

    def sample(self, params: Params) -> torch.Tensor:
        mu, ls = self._component(params)
        u = torch.rand_like(mu).clamp(1e-5, 1 - 1e-5)
        return (mu + torch.exp(ls) * (torch.log(u) - torch.log1p(-u))).clamp(-1.0, 1.0)


class GaussianMixtureHead(_PerDimMixture):
    """K-component Gaussian mixture per action dim; params (logits, means, log_stds), each (..., A, K)."""

    def __init__(self, in_dim: int, act_dim: int, n_mix: int = 5, n_bins: int = 0, **_: object) -> None:
        super().__init__(in_dim, act_dim, n_mix)  # n_bins: unused (the logistic head's signature)

    def forward(self, h: torch.Tensor) -> Params:
        logits, means, log_stds = self._raw(h)
        return logits, torch.tanh(means), log_stds.clamp(LOG_SCALE_MIN, 2.0)

    def log_prob_terms(self, params: Params, actions: torch.Tensor) -> torch.Tensor:
        logits, means, log_stds = params
        comp = Normal(means, torch.exp(log_stds)).log_prob(actions.unsqueeze(-1))
        return torch.logsumexp(comp + F.log_softmax(logits, dim=-1), dim=-1)

    def variance(self, params: Params) -> torch.Tensor:
        logits, means, log_stds = params
        return mixture_variance(logits, means, torch.exp(2.0 * log_stds))

    def sample(self, params: Params) -> torch.Tensor:
        mu, ls = self._component(params)
        return (mu + torch.exp(ls) * torch.randn_like(mu)).clamp(-1.0, 1.0)


def mixture_variance(logits: torch.Tensor, means: torch.Tensor, comp_var: torch.Tensor) -> torch.Tensor:
    """Variance of a K-component mixture along the last dim: sum_k w_k (var_k + mu_k^2) - (sum_k w_k mu_k)^2.
    Component variances are capped at 1 (actions live in [-1, 1]; a wide logistic would overflow)."""
    w = torch.softmax(logits, dim=-1)
    mean = (w * means).sum(-1)
    return ((w * (comp_var.clamp(max=1.0) + means ** 2)).sum(-1) - mean ** 2).clamp(min=1e-12)


HEADS: dict[str, type[ActionHead]] = {"gaussian": GaussianHead, "gmm": GMMHead,
                                      "gaussian_mixture": GaussianMixtureHead, "logistic": LogisticMixtureHead}


def make_head(kind: str, in_dim: int, act_dim: int, *, n_mix: int = 5, n_bins: int = 256,
              min_std: float = 1e-4) -> ActionHead:
    """The head registered as ``kind``; arguments a head does not use are ignored."""
    if kind not in HEADS:
        raise ValueError(f"unknown action head {kind!r}; available: {', '.join(sorted(HEADS))}")
    return HEADS[kind](in_dim, act_dim, n_mix=n_mix, n_bins=n_bins, min_std=min_std)


def beta_nll(head: ActionHead, params: Params, actions: torch.Tensor, mask: torch.Tensor | None = None,
             beta: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(plain NLL, training NLL) of ``actions`` (..., A), averaged over the rows of ``mask`` (...) (all if None).

    With ``beta`` > 0 the training NLL is β-NLL (Seitzer et al., ICLR 2022): each term's NLL is weighted by the
    head's predicted variance to the power β, detached, and the weights are rescaled to mean 1. Plain NLL lets a
    model "explain away" the steps it fits badly by widening its distribution there, which lowers their
    gradient; on demos those are the large goal-dependent moves. β = 1 weights every step like a squared error
    would; β = 0 is plain NLL. For a joint head (one term) the weight is the mean over dims of variance^β.
    """
    terms = head.log_prob_terms(params, actions)  # (..., A) or (..., 1)
    m = (torch.ones(terms.shape[:-1], dtype=torch.bool, device=terms.device) if mask is None else mask)
    mf = m.to(terms.dtype)
    denom = mf.sum().clamp(min=1.0)
    nll = -(terms.sum(-1) * mf).sum() / denom
    if beta <= 0:
        return nll, nll
    w = head.variance(params).detach() ** beta
    if terms.shape[-1] != w.shape[-1]:
        w = w.mean(-1, keepdim=True)
    w = w * mf.unsqueeze(-1)
    w = w / w[m].mean().clamp(min=1e-12)
    return nll, -((terms * w).sum(-1) * mf).sum() / denom
