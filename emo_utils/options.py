"""The ``emo`` command's option values, parsed once at the edge into the types the library takes.

Each function is an argparse ``type=``: a bad value stops the command at once with one line naming the option and
what it accepts, before any data is read, and the handlers pass typed values on (a :class:`SpeakerNorm`, a
checked device name, a fold count or scheme). Nothing heavy is imported here: ``emo --help`` stays fast.
"""

from __future__ import annotations

import argparse
import ast
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emo_utils.speaker_norm import SpeakerNorm

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def speaker_norm(text: str) -> SpeakerNorm:
    """``none``, ``enrol:K`` or ``all`` as a :class:`~emo_utils.speaker_norm.SpeakerNorm`."""
    from emo_utils.speaker_norm import SpeakerNorm

    try:
        return SpeakerNorm.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def device(text: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (lower-cased). Whether the device exists is checked when the
    command starts (:func:`emo_utils.devices.resolve_device`): that needs PyTorch, which parsing does not load."""
    name = text.strip().lower()
    kind, colon, index = name.partition(":")
    if name in DEVICE_CHOICES or (kind == "cuda" and colon and index.isdigit()):
        return name
    raise argparse.ArgumentTypeError(f"expected one of {', '.join(DEVICE_CHOICES)} or cuda:N, got {text!r}")


def folds(text: str) -> int | str:
    """A number of actor folds (2 or more) or ``emobox``."""
    if text == "emobox":
        return text
    if not text.isdigit() or int(text) < 2:
        raise argparse.ArgumentTypeError(f"expected a number of folds (2 or more) or 'emobox', got {text!r}")
    return int(text)


def positive(text: str) -> float:
    """A number above zero (seconds, frames per second)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def camera(text: str) -> int | str:
    """A webcam index, or a video file standing in for a webcam."""
    return int(text) if text.isdigit() else text


def branch_weight(text: str) -> tuple[str, float]:
    """``BRANCH=WEIGHT``."""
    name, _, value = text.partition("=")
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected BRANCH=WEIGHT, got {text!r}") from None


def notebook_parameter(text: str) -> tuple[str, object]:
    """``NAME=VALUE``: numbers, None, True/False, quoted strings and lists as Python reads them, else a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value
