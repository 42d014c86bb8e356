"""Options are parsed once, at the command line, into types: a bad value is one clear error before any work; the
library receives typed values; and the settings the notebooks fill with strings still take them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emo_utils.cli import build_parser, main
from emo_utils.speaker_norm import SpeakerNorm

HEAVY = ("torch", "librosa", "cv2", "pandas", "matplotlib", "sklearn", "transformers", "opensmile", "numba")


def test_speaker_norm_and_device_arrive_typed() -> None:
    args = build_parser().parse_args(["workflow", "--speaker-norm", "Enroll:3", "--device", "CUDA:1"])
    assert args.speaker_norm == SpeakerNorm("enrol", 3) and args.device == "cuda:1"
    defaults = build_parser().parse_args(["workflow"])
    assert defaults.speaker_norm == SpeakerNorm("none") and defaults.device == "cpu"
    assert build_parser().parse_args(["finetune", "--folds", "emobox"]).folds == "emobox"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["workflow", "--speaker-norm", "enrol:x"], "argument --speaker-norm: expected enrol:K with a whole number K"),
        (["workflow", "--speaker-norm", "all:3"], "argument --speaker-norm: all takes no ':K'"),
        (["workflow", "--device", "gpu"], "argument --device: expected one of auto, cpu, cuda or cuda:N, got 'gpu'"),
        (["demo", "--video", "x.mp4", "--device", "cuda:x"], "argument --device: expected one of auto, cpu, cuda"),
        (["workflow", "--folds", "1"], "argument --folds: expected a number of folds (2 or more) or 'emobox'"),
        (["demo", "--timeline", "--video", "x.mp4", "--hop", "0"], "argument --hop: expected a positive number"),
        (["course", "--out", "o", "-p", "1x=2"], "argument -p/--parameter: expected NAME=VALUE"),
    ],
)
def test_a_bad_value_is_one_error_at_the_command_line(
    command: list[str], expected: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(command)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert expected in error and "Traceback" not in error


def test_workflow_settings_take_a_name_or_a_speaker_norm_and_parse_it_once(tmp_path: Path) -> None:
    from emo_utils.workflow import WorkflowSettings

    named = WorkflowSettings(data_root=None, out=tmp_path, speaker_norm="enroll:2")
    typed = WorkflowSettings(data_root=None, out=tmp_path, speaker_norm=SpeakerNorm("enrol", 2))
    assert named.speaker_norm == typed.speaker_norm == "enrol:2"  # the public field keeps the name
    assert named.norm == typed.norm == SpeakerNorm("enrol", 2)
    with pytest.raises(ValueError, match="enrol:K"):
        WorkflowSettings(data_root=None, out=tmp_path, speaker_norm="enrol")


def test_help_and_parsing_import_no_heavy_library() -> None:
    code = (
        "import contextlib, io, sys\n"
        "from emo_utils.cli import build_parser\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    build_parser().parse_args(['--help'])\n"
        "build_parser().parse_args(['workflow', '--device', 'cuda', '--folds', '3'])\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
