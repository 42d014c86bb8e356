"""The fusion panel, driven headless: its numbers are the pure function's, and it saves a fusion config."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pytest
from PIL import Image
from test_fusion_analysis import make_artifacts, make_tables

from emo_utils.analysis import widgets
from emo_utils.analysis.fusion_analysis import FusionInputs, evaluate_weights
from emo_utils.analysis.widgets import FIGURE_PIXELS, STRATEGY_LABELS, FusionPanel, confusion_png
from emo_utils.evaluate import metrics_from_table
from emo_utils.fusion import load_fusion_config

matplotlib.use("Agg")

PROTOCOL = "6-fold actor-independent (test tables)"


@pytest.fixture
def inputs(tmp_path: Path) -> FusionInputs:
    return FusionInputs.from_artifacts(make_artifacts(tmp_path / "run"))


@pytest.fixture
def panel(tmp_path: Path) -> FusionPanel:
    return FusionPanel(
        make_artifacts(tmp_path / "run"),
        PROTOCOL,
        provenance="SYNTHETIC test tables",
        config_path=tmp_path / "panel_config.json",
    )


def test_panel_starts_at_equal_weights_and_recomputes_when_a_slider_moves(
    panel: FusionPanel, inputs: FusionInputs
) -> None:
    stack = inputs
    assert set(panel.sliders) == {"audio_mfcc_cnn", "face_au"}
    assert panel.last_metrics == evaluate_weights(stack, [1.0, 1.0], "late_fixed")[0]
    assert PROTOCOL in panel.summary and "SYNTHETIC" in panel.summary
    panel.sliders["face_au"].value = 0.25
    assert panel.last_metrics == evaluate_weights(stack, {"audio_mfcc_cnn": 1.0, "face_au": 0.25}, "late_fixed")[0]
    panel.sliders["audio_mfcc_cnn"].value = 0.0
    assert panel.last_metrics == metrics_from_table(make_tables()["face_au"])  # the branch-free result
    assert "audio_mfcc_cnn 0.00" in panel.summary
    assert bytes(panel.figure.value).startswith(b"\x89PNG") and panel.figure.layout.display is None
    panel.sliders["face_au"].value = 0.0
    assert panel.last_metrics is None and "cannot fuse" in panel.summary
    assert panel.figure.layout.display == "none"  # no confusion matrix without a result


def test_strategy_menu_switches_rules_and_locks_the_sliders_for_fitted_ones(
    panel: FusionPanel, inputs: FusionInputs
) -> None:
    stack = inputs
    panel.sliders["face_au"].value = 0.4
    panel.strategy.value = "product"
    assert panel.last_metrics == evaluate_weights(stack, [1.0, 0.4], "product")[0]
    assert not panel.sliders["face_au"].disabled and panel.save_button.disabled
    panel.strategy.value = "dynamic"
    assert panel.last_metrics == evaluate_weights(stack, None, "dynamic")[0]
    assert all(slider.disabled for slider in panel.sliders.values())
    assert panel.last_table is not None and len(panel.last_table) == len(inputs.stack.clip_ids)


def test_save_button_writes_the_slider_weights_as_a_late_fusion_config(panel: FusionPanel) -> None:
    panel.sliders["audio_mfcc_cnn"].value = 0.6
    panel.sliders["face_au"].value = 0.2
    panel.save_button.click()
    config = load_fusion_config(panel.config_path)
    assert config.branches == ["audio_mfcc_cnn", "face_au"] and config.weights == [0.75, 0.25]
    assert config.strategy == "late" and "saved" in panel.status.value
    panel.sliders["face_au"].value = 0.0  # a zero-weight branch is left out of the config
    assert load_fusion_config(panel.save_config()).branches == ["audio_mfcc_cnn"]
    panel.sliders["audio_mfcc_cnn"].value = 0.0
    panel.save_button.click()
    assert "not saved" in panel.status.value
    panel.strategy.value = "product"
    with pytest.raises(ValueError, match="late fusion"):
        panel.save_config()


def test_confusion_matrix_is_drawn_at_its_pixel_size_out_of_pyplots_sight(monkeypatch: pytest.MonkeyPatch) -> None:
    """After each widget callback the kernel runs the inline backend's hook, which shows and closes every pyplot
    figure alive, possibly from another kernel thread: a panel figure it can see comes out cropped or blank."""
    figures_alive_while_drawing = []

    def drawing(*args: object) -> plt.Axes:
        figures_alive_while_drawing.append(plt.get_fignums())
        return plot_confusion(*args)

    plot_confusion = widgets.plot_confusion
    monkeypatch.setattr(widgets, "plot_confusion", drawing)
    plt.close("all")
    for title in STRATEGY_LABELS.values():
        assert Image.open(io.BytesIO(confusion_png(make_tables()["face_au"], title))).size == FIGURE_PIXELS
    assert figures_alive_while_drawing == [[]] * len(STRATEGY_LABELS)
