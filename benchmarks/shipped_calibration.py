#!/usr/bin/env python
"""Calibrate the shipped models' fusion and write the calibration into their card (a benchmark, not a test).

    .venv/bin/python benchmarks/shipped_calibration.py [--fer-sample ../shared/data/fer2013-sample]

Writes ``emo_utils/shipped_models/fusion/calibration.json`` and ``fusion_config.json``
(:func:`emo_utils.pretrained.calibrate_shipped_models`), the reliability diagrams
``emo_utils/shipped_models/reliability.png``, ``benchmarks/shipped_calibration.json`` and the card's calibration
section. Data: the voice's out-of-fold predictions on RAVDESS (actors held out, in the shipped folder) and the
development half of the FER2013 sample (its test half and EmoDB are not read).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def reliability_figure(results: dict[str, Any], path: Path) -> None:
    """One reliability diagram per modality: accuracy against confidence per bin, before and after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    for ax, key in zip(axes, ("face", "voice")):
        entry = results[key]
        for when, marker in (("before", "o"), ("after", "s")):
            bins = [b for b in entry[f"bins_{when}"] if b["count"]]
            ax.plot(
                [b["confidence"] for b in bins],
                [b["accuracy"] for b in bins],
                marker=marker,
                label=f"{when} (ECE {entry[f'ece_{when}']:.3f})",
            )
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.set(title=f"{entry['name']} (n={entry['n']}, T={entry['temperature']:.2f})", xlabel="confidence")
        ax.set(xlim=(0, 1), ylim=(0, 1))
        ax.legend(loc="upper left", fontsize=8)
    axes[0].set_ylabel("accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def card_text(results: dict[str, Any]) -> str:
    rows = [
        f"| {m['name']} | {m['data']} | {m['accuracy']:.2f} | {m['temperature']:.2f} | {m['ece_before']:.3f} | "
        f"{m['ece_after']:.3f} |"
        for m in (results["face"], results["voice"])
    ]
    return "\n".join(
        [
            "## Calibration and fusion (`fusion/calibration.json`, `benchmarks/shipped_calibration.py`)",
            "- **One label space**: the face's 7 FER classes and the voice's 8 RAVDESS emotions are both mapped into "
            f"{', '.join(results['labels'])}: RAVDESS's **calm is counted as neutral** (the face has no calm; calm "
            "is RAVDESS's mild neutral). The demo therefore never says calm.",
            "- **Temperatures** (softmax(log p / T)) fitted by log-likelihood on held-out data of each model's own "
            "training set; expected calibration error (10 bins) before and after, the after measured on rows the "
            "temperature did not see (voice: fold by fold, T from the other folds; face: two halves, T from the "
            "other half):",
            "",
            "| modality | held-out data | accuracy (7 labels) | T | ECE before | ECE after |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "![reliability diagrams](reliability.png)",
            "",
            "- **Combined** by the rule chosen on development pairs (next section, `benchmarks/fusion_rule_dev.md`); "
            "a modality's reliability, where a rule uses it, is its chance-corrected held-out accuracy "
            "(accuracy - 1/7) / (1 - 1/7). Recalibrating keeps the chosen rule.",
            f"- **Doubt**: a fused top-1 probability below **{results['uncertain_below']:.2f}** is printed as "
            "UNCERTAIN (threshold fixed a priori, never tuned; docs/demo.md).",
            "- The face is calibrated on 48x48 crops; in the demo it reads frames (framed as FER2013, flip, pooled), "
            "which `benchmarks/fer_in_frames.md` compares with the crops.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fer-sample", type=Path, default=ROOT.parent / "shared" / "data" / "fer2013-sample")
    args = parser.parse_args()
    from emo_utils.pretrained import SHIPPED_DIR, calibrate_shipped_models, update_card_section

    results = calibrate_shipped_models(args.fer_sample)
    reliability_figure(results, SHIPPED_DIR / "reliability.png")
    (ROOT / "benchmarks" / "shipped_calibration.json").write_text(json.dumps(results, indent=2) + "\n")
    update_card_section("calibration", card_text(results))
    print(card_text(results))


if __name__ == "__main__":
    main()
