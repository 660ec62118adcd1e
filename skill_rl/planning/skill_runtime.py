"""A skill's stored models applied for the planner (:class:`SkillModels`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from skill_rl.errors import UserError
from skill_rl.library import SkillEntry

from .skill_features import FeatureSpec

__all__ = ["SkillModels"]


class SkillModels:
    """A skill's stored models applied to observations: ``predict`` (state after the skill) and
    ``success_prob``. Needs nothing but the library entry (TorchScript)."""

    def __init__(self, entry: SkillEntry) -> None:
        meta = entry.params.get("models")
        if not meta:
            raise UserError(f"skill {entry.key} has no learned models; fit them with fit_skill_models "
                            f"(or `skill-rl skills fit-models {entry.name}`)")
        self.entry = entry
        self.spec = FeatureSpec.from_dict(meta)
        self.sizes = [int(k) for k in meta["output_sizes"]]
        self.bound = dict(entry.params.get("bound", {}))
        self.dynamics = entry.load_dynamics()
        self.classifier = entry.load_classifier()

    def features(self, obs: np.ndarray, layout: dict[str, slice], params: dict[str, Any]) -> torch.Tensor:
        return torch.as_tensor(self.spec.gather(obs, layout, {**self.bound, **params}))

    def predict(self, obs: np.ndarray, layout: dict[str, slice], **params: Any) -> np.ndarray:
        """Observations ``[B, D]`` (or ``[D]``) with the predicted fields replaced by their values after the skill."""
        obs = np.asarray(obs, dtype=np.float32)
        out = np.array(np.atleast_2d(obs), copy=True)
        with torch.no_grad():
            y = self.dynamics(self.features(out, layout, params)).numpy()
        start = 0
        for name, size in zip(self.spec.resolve(self.spec.outputs, {**self.bound, **params}), self.sizes, strict=True):
            if name in layout:  # a point standing in for an object has nothing to write back
                out[:, layout[name]] = y[:, start:start + size]
            start += size
        return out if obs.ndim == 2 else out[0]

    def success_prob(self, obs: np.ndarray, layout: dict[str, slice], **params: Any) -> np.ndarray | float:
        """P(success within the budget) for each observation (a float for one observation)."""
        obs = np.asarray(obs, dtype=np.float32)
        with torch.no_grad():
            p = self.classifier(self.features(obs, layout, params)).numpy()
        return float(p[0]) if obs.ndim == 1 else p
