"""Where the heavy models run: CPU (the default everywhere) or a CUDA GPU, and in which precision.

``resolve_device("auto")`` picks the first CUDA GPU when PyTorch sees one, else the CPU; asking for
``"cuda"`` on a machine without one is an error that says what to install. On CUDA, inference runs under
``torch.autocast`` in bfloat16 (fp16 on GPUs without bf16): half the memory traffic, tensor cores, and
embeddings that differ from float32 in the third decimal. On the CPU nothing changes: float32, no autocast.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from emo_utils.errors import EmoError
from emo_utils.options import DEVICE_CHOICES


class DeviceError(EmoError):
    """The requested device does not exist on this machine."""


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` -> a checked device."""
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {name!r}; expected one of {', '.join(DEVICE_CHOICES)} or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise DeviceError(f"device {name!r} is not supported here; expected one of {', '.join(DEVICE_CHOICES)}")
    if not torch.cuda.is_available():
        raise DeviceError(
            f"device {name!r} was asked for but PyTorch sees no CUDA GPU (torch {torch.__version__}, built for "
            f"CUDA {torch.version.cuda or 'none'}): use --device cpu or auto, or install the torch build for your "
            "CUDA version (see docs/gpu.md)"
        )
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    return device


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision type inference uses on ``device``: bf16 (or fp16) on CUDA, None (float32) on CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def precision_name(device: torch.device, mixed_precision: bool = True) -> str:
    """``"float32"``, ``"bfloat16"`` or ``"float16"``: what a model run on ``device`` computes in."""
    dtype = autocast_dtype(device) if mixed_precision else None
    return str(dtype or torch.float32).removeprefix("torch.")


@contextlib.contextmanager
def inference_precision(device: torch.device, mixed_precision: bool = True) -> Iterator[None]:
    """``torch.inference_mode`` plus, on CUDA with ``mixed_precision``, ``torch.autocast`` in bf16/fp16."""
    dtype = autocast_dtype(device) if mixed_precision else None
    with torch.inference_mode():
        if dtype is None:
            yield
        else:
            with torch.autocast(device_type=device.type, dtype=dtype):
                yield
