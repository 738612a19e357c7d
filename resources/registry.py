"""The model registry, under the lake root."""

from __future__ import annotations

from typing import TYPE_CHECKING

from resources.storage import _RootedStore

if TYPE_CHECKING:  # the registry's module loads when a run needs it
    from lakeloop.registry.model_registry import ModelRegistry


class RegistryResource(_RootedStore):
    """The model registry, under ``root/registry`` (the lake root by default)."""

    def registry(self) -> ModelRegistry:
        from lakeloop.registry.model_registry import ModelRegistry

        return ModelRegistry(self.store())
