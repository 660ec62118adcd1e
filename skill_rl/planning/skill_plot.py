"""The plot of a :func:`~skill_rl.planning.skill_models.run_fit_models` run: held-out errors and accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .skill_fitting import SkillModelsReport

__all__ = ["plot_heldout"]


def plot_heldout(report: SkillModelsReport, path: Path) -> Path | None:
    """Bars: held-out error per predicted field (model vs nothing moves), accuracy vs majority class."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plots are a nicety; the numbers are in summary.json
        return None
    fields = report.dynamics["per_field"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5), gridspec_kw={"width_ratios": [3, 1]})
    xs = np.arange(len(fields))
    ax1.bar(xs - 0.2, [v["model"] for v in fields.values()], 0.4, label="dynamics model")
    ax1.bar(xs + 0.2, [v["nothing_moves"] for v in fields.values()], 0.4, label="nothing moves")
    ax1.set_xticks(xs, list(fields), rotation=15)
    ax1.set_ylabel("held-out error (m)")
    ax1.legend()
    clf = report.classifier
    ax2.bar([0, 1], [clf["heldout_accuracy"], clf["majority_accuracy"]], color=["C0", "C1"])
    ax2.set_xticks([0, 1], ["classifier", "majority"])
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("held-out accuracy")
    fig.suptitle(f"{report.entry.key}: {report.n_rollouts} rollouts, success {report.success_rate:.0%}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
