"""An interactive fusion panel: one weight slider per branch and a strategy menu; accuracy, macro-F1 and
the confusion matrix are recomputed live from the saved out-of-fold probabilities.

The numbers come from :func:`emo_utils.analysis.fusion_analysis.evaluate_weights` (a pure function), so what the
panel shows is what the tests check. Weights chosen by hand while looking at test-fold results are
tuned on the test actors: use them for the demo, never as an evaluation result.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd
from matplotlib.figure import Figure

from emo_utils.analysis.fusion_analysis import FusionInputs, evaluate_weights
from emo_utils.artifacts import BranchArtifact
from emo_utils.evaluate import format_metrics
from emo_utils.fusion import STRATEGIES, FusionConfig, save_fusion_config
from emo_utils.plotting import plot_confusion, use_style

# The confusion matrix's size in pixels: drawn at exactly this size and shown at it (no scaling, no cropping).
FIGURE_PIXELS = (460, 400)
FIGURE_DPI = 100
# The panel's CSS class (the browser test finds the panel by it).
PANEL_CLASS = "emo-fusion-panel"

STRATEGY_LABELS: dict[str, str] = {
    "late_fixed": "late fusion, slider weights",
    "product": "product rule, slider weights",
    "late_equal": "late fusion, equal weights",
    "late_learned": "late fusion, weights learned per test fold (nested)",
    "stacking": "stacking, fitted per test fold (nested)",
    "dynamic": "dynamic (confidence), calibrated per test fold (nested)",
}


class FusionPanel:
    """Weight sliders + strategy menu over a run's branch artifacts; ``panel.widget`` is the displayable box.

    ``last_metrics`` / ``last_table`` hold the current result (``None`` when the weights cannot fuse,
    e.g. all zero); the "save config" button writes the slider weights as a late-fusion config to
    ``config_path`` (load it in the demo with ``emo demo --config FILE``).
    """

    def __init__(
        self,
        artifacts: Mapping[str, BranchArtifact],
        protocol: str,
        provenance: str = "",
        config_path: str | Path = "fusion_config_panel.json",
    ) -> None:
        self.inputs = FusionInputs.from_artifacts(artifacts)
        self.stack = self.inputs.stack
        self.protocol, self.provenance = protocol, provenance
        self.config_path = Path(config_path)
        self.sliders = {
            b: widgets.FloatSlider(
                value=1.0,
                min=0.0,
                max=1.0,
                step=0.05,
                description=b,
                continuous_update=False,
                style={"description_width": "160px"},
                layout=widgets.Layout(width="420px"),
            )
            for b in self.stack.branches
        }
        self.strategy = widgets.Dropdown(
            options=[(label, key) for key, label in STRATEGY_LABELS.items()],
            value="late_fixed",
            description="strategy",
            layout=widgets.Layout(width="420px"),
        )
        self.save_button = widgets.Button(
            description="save config", icon="save", tooltip="write the slider weights as a late-fusion config"
        )
        self.status = widgets.Label()
        self.output = widgets.Output()  # the readout
        # the confusion matrix as an image widget: a state update, drawn however the output area is routed; its box
        # has the picture's own size, so the page never scales or crops it and nothing below it moves when it changes
        width, height = FIGURE_PIXELS
        self.figure = widgets.Image(
            format="png", layout=widgets.Layout(width=f"{width}px", height=f"{height}px", flex="0 0 auto")
        )
        self.last_metrics: dict[str, Any] | None = None
        self.last_table: pd.DataFrame | None = None
        self.summary = ""
        self._fitted: dict[str, tuple[dict[str, Any], pd.DataFrame]] = {}
        # widget callbacks may run on kernel threads other than the one that built the panel (ipykernel's subshells)
        self._updating = threading.Lock()
        for control in [*self.sliders.values(), self.strategy]:
            control.observe(self.update, names="value")
        self.save_button.on_click(self._on_save)
        controls = widgets.VBox(
            [*self.sliders.values(), self.strategy, widgets.HBox([self.save_button, self.status]), self.output],
            layout=widgets.Layout(width="440px"),
        )
        # the picture beside the controls: the whole panel is as tall as the picture and fits on one screen
        self.widget = widgets.HBox([controls, self.figure], layout=widgets.Layout(flex_flow="row wrap"))
        self.widget.add_class(PANEL_CLASS)
        self.update()

    @property
    def weights(self) -> dict[str, float]:
        """The slider weights by branch (not normalised)."""
        return {b: float(s.value) for b, s in self.sliders.items()}

    def _evaluate(self) -> tuple[dict[str, Any], pd.DataFrame]:
        strategy = self.strategy.value
        if STRATEGIES[strategy].uses_weights:
            return evaluate_weights(self.inputs, self.weights, strategy)
        if strategy not in self._fitted:  # the other strategies ignore the sliders: compute once
            self._fitted[strategy] = evaluate_weights(self.inputs, None, strategy)
        return self._fitted[strategy]

    def update(self, change: dict[str, Any] | None = None) -> None:
        """Recompute the metrics for the current controls and redraw the output (one update at a time)."""
        with self._updating:
            self._update()

    def _update(self) -> None:
        strategy = self.strategy.value
        for slider in self.sliders.values():
            slider.disabled = not STRATEGIES[strategy].uses_weights
        self.save_button.disabled = strategy != "late_fixed"
        name = f"fusion {strategy}"
        if STRATEGIES[strategy].uses_weights:
            name += " (" + ", ".join(f"{b} {w:.2f}" for b, w in self.weights.items()) + ")"
        try:
            self.last_metrics, self.last_table = self._evaluate()
            self.summary = format_metrics(name, self.last_metrics, self.protocol, self.provenance)
        except ValueError as exc:
            self.last_metrics, self.last_table = None, None
            self.summary = f"{name}: cannot fuse ({exc})"
        self._show(STRATEGY_LABELS[strategy])

    def _show(self, title: str) -> None:
        self.output.clear_output(wait=True)
        with self.output:
            print(self.summary)
        if self.last_table is None:
            self.figure.layout.display = "none"
            return
        self.figure.value = confusion_png(self.last_table, title)
        self.figure.layout.display = None

    def _on_save(self, button: widgets.Button) -> None:
        try:
            self.save_config()
        except ValueError as exc:
            self.status.value = f"not saved: {exc}"

    def save_config(self) -> Path:
        """Write the slider weights (branches above zero) as a late-fusion config; returns its path."""
        if self.strategy.value != "late_fixed":
            raise ValueError("only late fusion with slider weights can be saved (the demo fuses by weighted average)")
        chosen = {b: w for b, w in self.weights.items() if w > 0}
        if not chosen:
            raise ValueError("every weight is zero: nothing to save")
        config = FusionConfig(
            list(chosen),
            list(chosen.values()),
            strategy="late",
            note=f"weights set by hand in the fusion panel while viewing test-fold results "
            f"({self.protocol}): for the demo, not an evaluation",
        )
        path = save_fusion_config(config, self.config_path)
        self.status.value = f"saved {path}"
        return path


def confusion_png(table: pd.DataFrame, title: str) -> bytes:
    """The panel's confusion matrix of an out-of-fold ``table`` as PNG bytes of exactly :data:`FIGURE_PIXELS`.

    The figure is a bare :class:`~matplotlib.figure.Figure`, never registered with pyplot: the panel draws it in
    widget callbacks, after which the kernel runs its post-execute hooks, and the inline backend's hook shows and
    closes every pyplot figure alive, possibly from another kernel thread while this one is being saved (it then
    comes out cropped to its tight bounding box, or blank).
    """
    use_style()
    width, height = FIGURE_PIXELS
    fig = Figure(figsize=(width / FIGURE_DPI, height / FIGURE_DPI), dpi=FIGURE_DPI, layout="constrained")
    plot_confusion(table, title, fig.add_subplot())
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=FIGURE_DPI)
    return png.getvalue()
