"""benchmarks/yes_share_frontier.py: the oracle threshold and the popularity tilt."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "yes_share_frontier", ROOT / "benchmarks/yes_share_frontier.py"
)
frontier = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(frontier)


class _Fixed:
    """Logits given per row, as ``TiltedUtility.logits`` gives them."""

    def __init__(self, z: list[float]) -> None:
        self.z = np.asarray(z, float)

    def logits(self, pairs: pd.DataFrame) -> np.ndarray:
        return self.z[pairs.index.to_numpy()]


def test_the_oracle_threshold_puts_both_kinds_nearest_half():
    # Uniform: yes to half for any threshold in (-2, 2]. Matched: half only in (1.5, 2].
    z = [3, 2, -2, -3, 3, 2, 1.5, 0.5]
    first = pd.DataFrame(
        {
            "user_id": ["u"] * 8,
            "item_id": [f"i{k}" for k in range(8)],
            "kind": ["uniform"] * 4 + ["popularity"] * 4,
        }
    )
    t = frontier.oracle_shift(_Fixed(z), first)
    assert 1.5 < t <= 2.0
    zz = np.asarray(z)
    assert (zz[:4] >= t).mean() == 0.5 and (zz[4:] >= t).mean() == 0.5


@pytest.mark.parametrize("seed", range(5))
def test_the_oracle_threshold_is_as_good_as_the_best_of_every_cut(seed):
    # Three times as many matched as uniform: the pooled median is no answer here.
    rng = np.random.default_rng(seed)
    uniform = rng.normal(-1.0, 1.0, 12)  # liked and unseen mixed; matched sit higher
    matched = rng.normal(0.5, 1.0, 36)
    z = np.concatenate([uniform, matched])
    first = pd.DataFrame(
        {
            "user_id": "u",
            "item_id": [f"i{k}" for k in range(len(z))],
            "kind": ["uniform"] * len(uniform) + ["popularity"] * len(matched),
        }
    )

    def worst(t: float) -> float:
        return max(abs((uniform >= t).mean() - 0.5), abs((matched >= t).mean() - 0.5))

    best = min(worst(t) for t in z)  # every distinct cut is some value's
    assert worst(frontier.oracle_shift(_Fixed(z), first)) == pytest.approx(best)


@pytest.mark.data
def test_taking_popularity_off_narrows_the_yes_gap_at_a_cost_in_uniform_auc(
    shared_data, monkeypatch, capsys
):
    monkeypatch.setattr(
        "sys.argv",
        [
            "yes_share_frontier.py",
            str(shared_data / "ml-100k"),
            "--users",
            "100",
            "--tilts",
            "0",
            "4",
        ],
    )
    frontier.main()
    lines = [line for line in capsys.readouterr().out.splitlines() if "yes u/m" in line]
    assert len(lines) == 2

    def numbers(line: str, key: str) -> tuple[float, float]:
        a, b = line.split(key)[1].split()[0].split("/")
        return float(a), float(b)

    (yu0, ym0), (yu4, ym4) = (numbers(line, "yes u/m") for line in lines)
    (au0, am0), (au4, am4) = (numbers(line, "auc u/m") for line in lines)
    assert ym4 - yu4 < ym0 - yu0  # the two kinds' yes-shares come closer
    assert au4 < au0 and am4 > am0  # uniform AUC pays for matched AUC
    assert "below item-kNN: none" not in lines[1]
