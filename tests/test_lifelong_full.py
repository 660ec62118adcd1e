"""benchmarks/lifelong_full.py's table: per-cell results aggregated (mean ± sample std, every seed), missing
cells named, cells of another protocol refused. Synthetic cells: the matrix itself takes hours."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("lifelong_full", ROOT / "benchmarks" / "lifelong_full.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cell(mod, work: Path, algo: str, seed: int, values: dict, protocol: dict | None = None) -> None:
    path = mod.cell_path(work, "tabletop-object", algo, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {**values, "conf": [[values["final_success"]]], "train_s": 1.0, "eval_s": 2.0}
    path.write_text(json.dumps({"suite": "tabletop-object", "algo": algo, "seed": seed, "tasks": ["a", "b"],
                                "protocol": protocol or mod.protocol_of("tabletop-object", True), "result": result,
                                "wall_s": 3.0, "train_s": 1.0, "eval_s": 2.0}))


def test_table_aggregates_finished_cells_and_names_the_missing(tmp_path: Path) -> None:
    mod = _module()
    _cell(mod, tmp_path, "seql", 100, {"fwt": 0.5, "nbt": 0.6, "auc": 0.3, "final_success": 0.2})
    _cell(mod, tmp_path, "seql", 200, {"fwt": 0.7, "nbt": 0.4, "auc": 0.5, "final_success": 0.4})
    _cell(mod, tmp_path, "er", 100, {"fwt": 0.4, "nbt": 0.1, "auc": 0.6, "final_success": 0.6})
    t = mod.build_table(tmp_path, ["tabletop-object"], ["seql", "er"], [100, 200], debug=True)
    assert t["cells_done"] == 3 and t["missing"] == ["tabletop-object/er/seed200"]
    seql = next(r for r in t["rows"] if r["algo"] == "seql")
    assert seql["aggregate"]["fwt"]["mean"] == pytest.approx(0.6)
    assert seql["aggregate"]["fwt"]["std"] == pytest.approx(math.sqrt(0.02))  # sample std (n - 1)
    assert seql["per_seed"][200]["nbt"] == 0.4
    er = next(r for r in t["rows"] if r["algo"] == "er")
    assert er["aggregate"]["auc"]["std"] is None  # one seed: no spread
    nbt = next(o for o in t["libero_ordering"]["tabletop-object"] if o["expected"] == "NBT(seql) > NBT(er)")
    assert nbt["holds"] and nbt["measured"] == [pytest.approx(0.5), 0.1]
    assert t["libero_ordering_per_seed"]["tabletop-object"]["NBT(seql) > NBT(er)"] == [True]  # seed 100 only
    md = mod.to_markdown(t)
    assert "partial" in md and "tabletop-object/er/seed200" in md and "0.60 ± 0.14" in md


def test_a_cell_of_another_protocol_is_refused(tmp_path: Path) -> None:
    mod = _module()
    other = {**mod.protocol_of("tabletop-object", True), "eval_rollouts": 7}
    _cell(mod, tmp_path, "seql", 100, {"fwt": 0.5, "nbt": 0.6, "auc": 0.3, "final_success": 0.2}, other)
    with pytest.raises(SystemExit, match="another protocol"):
        mod.build_table(tmp_path, ["tabletop-object"], ["seql"], [100], debug=True)


def test_an_unfinished_run_of_another_protocol_is_not_resumed(tmp_path: Path) -> None:
    """A run folder left by an older protocol (30 epochs) must start afresh, not be resumed under the new one."""
    mod = _module()
    proto = mod.protocol_of("tabletop-object", False)
    cfg = tmp_path / "config.yaml"
    cfg.write_text("".join(f"{k}: {v}\n" for k, v in {**proto, "suite": "tabletop-object"}.items()))
    assert mod.same_protocol(cfg, proto)
    cfg.write_text("".join(f"{k}: {v}\n" for k, v in {**proto, "epochs": 30}.items()))
    assert not mod.same_protocol(cfg, proto)
