"""Where the models run: one rule for ``--device auto|cpu|cuda`` and the bf16 autocast, shared by
the lab path (``LabSOCModel``, the sensor-band autoencoder) and the SpTGNN."""
from __future__ import annotations

import torch

from .errors import SocspecInputError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto``/None → CUDA when torch sees a GPU, else CPU; ``cpu``; ``cuda``/``cuda:N`` (refused
    with :class:`SocspecInputError` when torch sees no GPU). A ``torch.device`` is returned as is."""
    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise SocspecInputError(f"device {device!r} asked for, but torch sees no CUDA GPU",
                                hint="use device 'cpu' or 'auto'")
    if str(device) != "cpu" and not str(device).startswith("cuda"):
        raise SocspecInputError(f"unknown device {device!r}", hint="use auto, cpu or cuda")
    return torch.device(device)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op context on the CPU (CPU bf16 is slower and less exact here)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
