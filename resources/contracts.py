"""Dataset contracts: a team's own YAMLs, or the built-ins."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from lakeloop.contracts import Contract, load_contract


class ContractsResource(dg.ConfigurableResource):
    """Dataset contracts; ``directory`` holds a team's own YAMLs (built-ins otherwise)."""

    directory: str | None = None

    def get(self, name: str) -> Contract:
        return load_contract(name, Path(self.directory) if self.directory else None)
