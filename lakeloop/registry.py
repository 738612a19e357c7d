"""A versioned model registry on the lake root (local folder or S3), with a champion pointer.

Layout under ``<root>/registry/<model>/``::

    versions/v0001/weights.pt   a torch ``state_dict`` (tensors only; loaded weights_only=True),
                                for torch families
    versions/v0001/model.txt    other families' own text/JSON model format (a LightGBM booster's
                                ``model_to_string``); a baseline family needs no file at all
    versions/v0001/meta.json    family, config, preprocessing state, feature schema, metrics,
                                lineage (training-set Delta versions), code version, seed,
                                device, training time, sha256 of every file, decision and reason
    champion.json               {"version": ..., "history": [...]}: one object, replaced whole

Why hand-written: MLflow and friends need a tracking server or pickle models; this registry
is two files per version on the storage the lake already uses. Promotion is one atomic object
write (rename locally, a single PUT on S3), so a crash leaves the old or the new champion,
never none. Loading never unpickles: tensors only, and the checksum must match.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import pickle
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lakeloop.storage.objects import ObjectStore

WEIGHTS = "weights.pt"
META = "meta.json"
CHAMPION = "champion.json"


class RegistryError(RuntimeError):
    """A registry entry that is missing, tampered with, or not ours."""


def code_version() -> str | None:
    """The git commit of the running code, when it runs from a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@dataclass
class ModelVersion:
    model: str
    version: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        return self.meta.get("metrics", {})

    @property
    def family(self) -> str:
        """Which kind of model serves: "torch" (default of versions before families), a
        tree library, or a baseline rule."""
        return str(self.meta.get("family", "torch"))


class ModelRegistry:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    # -- paths ------------------------------------------------------------------------------
    def _parts(self, model: str, *rest: str) -> tuple[str, ...]:
        return ("registry", model, *rest)

    def versions(self, model: str) -> list[str]:
        files = self.store.list(*self._parts(model, "versions"))
        found = {f.split("/versions/")[1].split("/")[0] for f in files if f.endswith(META)}
        return sorted(found)

    def _next_version(self, model: str) -> str:
        existing = self.versions(model)
        return f"v{(int(existing[-1][1:]) + 1) if existing else 1:04d}"

    # -- write ------------------------------------------------------------------------------
    def register(self, model: str, state_dict: dict[str, torch.Tensor] | None,
                 meta: dict[str, Any], files: dict[str, bytes] | None = None) -> ModelVersion:
        """Store a new version: a torch ``state_dict`` (may be None), other ``files`` in their
        library's own text/JSON format, then meta last (a version exists once meta does)."""
        blobs = dict(files or {})
        if META in blobs or (state_dict is not None and WEIGHTS in blobs):
            raise RegistryError(f"{model}: file names {META!r}/{WEIGHTS!r} are the registry's")
        if state_dict is not None:
            buf = io.BytesIO()
            torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, buf)
            blobs[WEIGHTS] = buf.getvalue()
        version = self._next_version(model)
        sums = {name: hashlib.sha256(data).hexdigest() for name, data in blobs.items()}
        full = {
            **meta,
            "model": model,
            "version": version,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "code_version": meta.get("code_version", code_version()),
            "files_sha256": sums,
        }
        if WEIGHTS in sums:
            full["weights_sha256"] = sums[WEIGHTS]
        for name, data in blobs.items():
            self.store.write_bytes(data, *self._parts(model, "versions", version, name))
        self.store.write_bytes(json.dumps(full, indent=2, sort_keys=True, default=str).encode(),
                               *self._parts(model, "versions", version, META))
        return ModelVersion(model, version, full)

    def _pointer(self, model: str) -> dict[str, Any]:
        uri = self.store.uri(*self._parts(model, CHAMPION))
        try:
            return json.loads(self.store.read_bytes(uri))
        except FileNotFoundError:
            return {"version": None, "history": []}

    def promote(self, model: str, version: str, reason: str, kind: str = "promote") -> None:
        """Make ``version`` the champion: one atomic write of the pointer."""
        if version not in self.versions(model):
            raise RegistryError(f"{model}: no version {version} to promote")
        pointer = self._pointer(model)
        pointer["history"].append({
            "version": version, "previous": pointer["version"], "reason": reason, "kind": kind,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        })
        pointer["version"] = version
        self.store.write_bytes(json.dumps(pointer, indent=2).encode(),
                               *self._parts(model, CHAMPION))

    def rollback(self, model: str, reason: str = "manual rollback") -> str:
        """Undo the promotion that made the current champion; returns the restored version."""
        pointer = self._pointer(model)
        current = pointer["version"]
        previous = next((h["previous"] for h in reversed(pointer["history"])
                         if h["version"] == current and h.get("kind", "promote") == "promote"),
                        None)
        if previous is None:
            raise RegistryError(f"{model}: nothing to roll back to from {current}")
        self.promote(model, previous, reason, kind="rollback")
        return previous

    # -- read -------------------------------------------------------------------------------
    def champion_version(self, model: str) -> str | None:
        return self._pointer(model)["version"]

    def history(self, model: str) -> list[dict[str, Any]]:
        return self._pointer(model)["history"]

    def get(self, model: str, version: str) -> ModelVersion:
        uri = self.store.uri(*self._parts(model, "versions", version, META))
        try:
            meta = json.loads(self.store.read_bytes(uri))
        except FileNotFoundError as exc:
            raise RegistryError(f"{model}: no version {version}") from exc
        return ModelVersion(model, version, meta)

    def champion(self, model: str) -> ModelVersion | None:
        version = self.champion_version(model)
        return None if version is None else self.get(model, version)

    def load_file(self, mv: ModelVersion, name: str) -> bytes:
        """One of the version's files, verified against the sha256 recorded at registration."""
        expected = mv.meta.get("files_sha256", {}).get(name)
        if expected is None and name == WEIGHTS:
            expected = mv.meta.get("weights_sha256")
        if expected is None:
            raise RegistryError(f"{mv.model} {mv.version}: no file {name!r} was registered")
        uri = self.store.uri(*self._parts(mv.model, "versions", mv.version, name))
        try:
            data = self.store.read_bytes(uri)
        except FileNotFoundError as exc:
            raise RegistryError(f"{mv.model} {mv.version}: {name} is missing ({uri})") from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected:
            raise RegistryError(
                f"{mv.model} {mv.version}: {name} does not match the sha256 recorded at "
                f"registration ({digest[:12]} != {str(expected)[:12]}); "
                "refusing to load a file that changed after it was registered"
            )
        return data

    def load_weights(self, mv: ModelVersion) -> dict[str, torch.Tensor]:
        """The version's ``state_dict``, verified against its checksum, never unpickled."""
        data = self.load_file(mv, WEIGHTS)
        try:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
            raise RegistryError(
                f"{mv.model} {mv.version}: weights.pt is not a plain tensor state_dict "
                f"(refused by torch.load(weights_only=True): {str(exc).splitlines()[0]})"
            ) from exc
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                                  for v in state.values()):
            raise RegistryError(f"{mv.model} {mv.version}: weights.pt is not a state_dict")
        return state
