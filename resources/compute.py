"""Where torch runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # torch loads only when a run needs it, not when Dagster loads the code
    from lakeloop.models.compute import Compute


class ComputeResource(dg.ConfigurableResource):
    """Device choice for torch: ``auto`` (CUDA if present, else CPU), ``cpu``, ``cuda[:N]``,
    ``mps``; defaults to $LAKELOOP_DEVICE, then ``auto``."""

    device: str = "auto"

    def compute(self) -> Compute:
        from lakeloop.models.compute import compute

        return compute(None if self.device == "auto" else self.device)
