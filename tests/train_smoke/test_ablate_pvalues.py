"""The ablation's p-values against closed forms: with 2 degrees of freedom, p = 1 - |t| / sqrt(t^2 + 2)."""

from __future__ import annotations

import math

import pytest

from train_smoke.ablate_results import paired_p, welch_p


def p_df2(t: float) -> float:
    return 1 - abs(t) / math.sqrt(t * t + 2)


def test_paired_p_value_of_three_seed_differences():
    # differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.464, df 2 -> p = 0.0742
    assert paired_p([1.0, 2.0, 3.0]) == pytest.approx(p_df2(2 * math.sqrt(3)), rel=1e-9)
    assert paired_p([1.0, 2.0, 3.0]) == pytest.approx(0.0742, abs=1e-4)


def test_welch_p_value_of_two_runs_a_side():
    # [0, 2] vs [3, 5]: variances 2 and 2, se = sqrt(2/2 + 2/2), t = 3 / sqrt 2, Welch df = 2 -> p = 0.168
    assert welch_p([0.0, 2.0], [3.0, 5.0]) == pytest.approx(p_df2(3 / math.sqrt(2)), rel=1e-9)


def test_too_few_seeds_give_no_p_value():
    assert math.isnan(paired_p([0.5]))
    assert math.isnan(welch_p([1.0], [2.0, 3.0]))
