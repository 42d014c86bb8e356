"""The fold plans of an MLP branch trained side by side equal one-at-a-time training, plan by plan."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emo_utils.feature_store import FeatureSet
from emo_utils.stacked import PlanRows, fit_stacked
from emo_utils.train import Standardizer, TrainConfig, cross_validate, fit_model


def _data(n: int = 240, width: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    X = rng.normal(size=(n, width)).astype(np.float32) + y[:, None] * 0.5
    return X, y


def _plans(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Three plans of different sizes (so that their batch counts differ), the last batch of one a single row."""
    rows = np.arange(n)
    return [(rows[:150], rows[150:180]), (rows[60:193], rows[200:230]), (rows[:97], rows[97:140])]


def _one_at_a_time(X, y, plans, config):
    out = []
    for fit, val in plans:
        scaler = Standardizer.fit(X[fit])
        out.append((fit_model(X[fit], y[fit], X[val], y[val], config, scaler, n_classes=4), scaler))
    return out


@pytest.mark.parametrize("hidden, epochs, patience", [((16,), 6, 3), ((16, 8), 6, 3), ((16, 8), 30, 1)])
def test_stacked_equals_one_at_a_time_without_dropout(hidden, epochs, patience):
    """Also when plans stop early at different epochs (they leave the stacked model) and when only some plans
    have a batch in a step (only those are computed)."""
    X, y = _data()
    plans = _plans(len(X))
    config = TrainConfig(
        "mlp", {"hidden": hidden, "dropout": 0.0}, epochs=epochs, patience=patience, batch_size=32, seed=3
    )
    single = _one_at_a_time(X, y, plans, config)
    rows = [PlanRows(fit, val, s.mean, s.std) for (fit, val), (_, s) in zip(plans, single)]
    stacked = fit_stacked(X, y, rows, config, n_classes=4)
    for ((model_a, curve_a), scaler), (model_b, curve_b) in zip(single, stacked):
        assert [c["epoch"] for c in curve_a] == [c["epoch"] for c in curve_b]
        np.testing.assert_allclose([c["val_loss"] for c in curve_a], [c["val_loss"] for c in curve_b], atol=1e-3)
        np.testing.assert_allclose(
            [c["train_loss"] for c in curve_a], [c["train_loss"] for c in curve_b], rtol=1e-4, atol=1e-5
        )
        with torch.no_grad():
            a = torch.softmax(model_a(scaler(X)), 1).numpy()
            b = torch.softmax(model_b(scaler(X)), 1).numpy()
        # A linear bias just before batch norm has no true gradient: Adam turns its rounding noise into steps of
        # the learning rate, which the running mean follows. Everything else agrees to rounding.
        np.testing.assert_allclose(a, b, atol=2e-3)
        state_a, state_b = model_a.state_dict(), model_b.state_dict()
        assert state_a.keys() == state_b.keys()
        for key in state_a:
            if not key.endswith(("running_mean", "bias")) or key.startswith(f"net.{4 * len(hidden)}"):
                np.testing.assert_allclose(state_a[key].float(), state_b[key].float(), atol=1e-5, err_msg=key)


def test_early_stopping_reads_only_the_plans_validation_rows():
    """Relabelling rows outside a plan's fit and validation rows changes nothing of that plan, while another
    plan whose validation rows they are stops differently."""
    X, y = _data()
    config = TrainConfig("mlp", {"hidden": (16,), "dropout": 0.3}, epochs=12, patience=2, batch_size=32)
    rows = np.arange(len(X))
    fit_a, val_a, fit_b, val_b = rows[:100], rows[100:130], rows[:100], rows[200:240]

    def run(labels):
        plans = [
            PlanRows(fit, val, *(lambda s: (s.mean, s.std))(Standardizer.fit(X[fit])))
            for fit, val in ((fit_a, val_a), (fit_b, val_b))
        ]
        return fit_stacked(X, labels, plans, config, n_classes=4)

    poisoned = y.copy()
    poisoned[200:240] = (poisoned[200:240] + 1) % 4  # plan b's validation actors only
    clean, dirty = run(y), run(poisoned)
    assert clean[0][1] == dirty[0][1]
    for key, value in clean[0][0].state_dict().items():
        assert torch.equal(value, dirty[0][0].state_dict()[key])
    assert [c["val_loss"] for c in clean[1][1]] != [c["val_loss"] for c in dirty[1][1]]


def test_cross_validate_stacks_mlp_plans_deterministically(tmp_path):
    X, y = _data(n=192, width=10)
    actors = np.array([f"{a:02d}" for a in np.repeat(np.arange(1, 13), 16)])
    genders = np.array(["male" if int(a) % 2 else "female" for a in actors])
    folds = (np.repeat(np.arange(12), 16) // 2) % 3
    features = FeatureSet(np.array([f"c{i}" for i in range(len(y))]), X, {})
    config = TrainConfig("mlp", {"hidden": (16,)}, epochs=5, patience=3)
    first = cross_validate(features, y, actors, genders, folds, config, tmp_path / "a", nested=True, progress=False)
    again = cross_validate(features, y, actors, genders, folds, config, tmp_path / "b", nested=True, progress=False)
    assert first.oof.equals(again.oof)
    assert first.inner_oof is not None and first.inner_oof.equals(again.inner_oof)
    assert len(first.checkpoints) == 3 and not first.oof.filter(like="p_").isna().any().any()
