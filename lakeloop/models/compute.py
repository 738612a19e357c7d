"""Where torch runs: CUDA when present, else CPU (MPS on request), overridable.

Model code asks this module for its device and precision; it never names one itself.
"""

from __future__ import annotations

import os
import random
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch

DEVICE_ENV = "LAKELOOP_DEVICE"


@dataclass(frozen=True)
class Compute:
    """The chosen device and what follows from it (precision, pinned memory)."""

    device: torch.device

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """bf16 autocast on GPUs that support it, fp16 on older ones; none on CPU."""
        if not self.is_cuda:
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    @property
    def pin_memory(self) -> bool:
        return self.is_cuda

    def autocast(self) -> AbstractContextManager:
        dtype = self.amp_dtype
        if dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def describe(self) -> str:
        if self.is_cuda:
            return f"cuda ({torch.cuda.get_device_name(self.device)})"
        return self.device.type

    @property
    def lightning_accelerator(self) -> str:
        return {"cuda": "gpu", "mps": "mps"}.get(self.device.type, "cpu")


def pick_device(requested: str | None = None) -> torch.device:
    """``requested`` (or $LAKELOOP_DEVICE): ``auto`` (default), ``cuda``, ``cuda:N``, ``mps``,
    ``cpu``. Asking for an accelerator that is not there is an error, not a silent fallback."""
    choice = (requested or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    device = torch.device(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{DEVICE_ENV}={choice} but CUDA is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"{DEVICE_ENV}={choice} but MPS is not available on this machine")
    return device


def seed_everything(seed: int) -> None:
    """Same seed, same model on CPU (GPU kernels may still differ in the last bits)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(False)


def compute(requested: str | None = None) -> Compute:
    return Compute(pick_device(requested))
