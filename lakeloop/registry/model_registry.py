"""A versioned model registry on the lake root (local folder or S3), with a champion pointer.

Layout under ``<root>/registry/<model>/``::

    versions/v0001/weights.pt   a torch ``state_dict`` (tensors only; loaded weights_only=True),
                                for torch families
    versions/v0001/model.txt    other families' own text/JSON model format (a LightGBM booster's
                                ``model_to_string``); a baseline family needs no file at all
    versions/v0001/meta.json    family, config, preprocessing state, feature schema, metrics,
                                lineage (training-set Delta versions), code version, seed,
                                device, training time, sha256 of every file, decision and reason
    versions/v0001/claim.json   who took the number (written first, by an exclusive create)
    champion.json               {"version": ..., "history": [...]}: one object, replaced whole
    baseline.json               {"baselines": [...]}: drift re-baselines an operator accepted
                                (``lakeloop.monitoring.rebaseline``), appended by compare-and-swap

Why hand-written: MLflow and friends need a tracking server or pickle models; this registry
is two files per version on the storage the lake already uses. Promotion is one atomic object
write (rename locally, a single PUT on S3), so a crash leaves the old or the new champion,
never none. Loading never unpickles: tensors only, and the checksum must match.

Concurrent writers (two retrains, a retrain and ``lakeloop models promote``) are safe without a
lock server, by compare-and-swap on the store (``ObjectStore.write_bytes_if_absent`` /
``write_bytes_if_tag``: an exclusive hard link or ``flock`` locally, conditional PUTs on
S3):

- A version number is *claimed* by creating ``claim.json`` only if absent; whoever loses takes
  the next number. The claim is not the version: a version exists (``versions()``) once its
  ``meta.json`` is written, last, after its files, so a reader never sees half a version. A
  writer that dies after claiming leaves a gap in the numbers, never a broken version.
- The champion pointer is read with its tag (ETag / content hash) and written only if still
  unchanged; a writer that lost re-reads and re-applies its change (a promotion appended to
  the history the winner left), at most ``POINTER_ATTEMPTS`` times, then ``RegistryError``.

A registry file that is not UTF-8 JSON of the expected shape is refused with ``RegistryError``
naming the file and what is wrong, never served half-understood.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import pickle
import random
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeloop.storage.objects import ObjectStore

if TYPE_CHECKING:  # torch loads when weights are saved or loaded, not to read a pointer
    import torch

WEIGHTS = "weights.pt"
META = "meta.json"
CHAMPION = "champion.json"
CLAIM = "claim.json"
RESERVED = (META, CLAIM)
CLAIM_ATTEMPTS = 100  # numbers tried past the highest one seen: one per concurrent registrant
POINTER_ATTEMPTS = 20  # a writer loses at most once per concurrent writer that wins


class RegistryError(RuntimeError):
    """A registry entry that is missing, tampered with, corrupt, or not ours."""


def _json_object(uri: str, data: bytes) -> dict[str, Any]:
    """``data`` as a JSON object, or a RegistryError naming ``uri`` and what is wrong."""
    try:
        text = data.decode("utf-8")  # explicit: json.loads(bytes) would guess UTF-16/32
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{uri}: not valid UTF-8 ({exc.reason} at byte {exc.start})"
                            ) from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{uri}: not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise RegistryError(f"{uri}: expected a JSON object, found {type(value).__name__}")
    return value


def _check_meta(uri: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The fields loading relies on must have their types (the rest is informative)."""
    for key in ("files_sha256", "metrics"):
        if key in meta and not isinstance(meta[key], dict):
            raise RegistryError(f"{uri}: {key!r} should be an object, found "
                                f"{type(meta[key]).__name__}")
    sums = meta.get("files_sha256", {})
    if not all(isinstance(v, str) for v in sums.values()):
        raise RegistryError(f"{uri}: 'files_sha256' should map file names to hex digests")
    return meta


def _check_pointer(uri: str, pointer: dict[str, Any]) -> dict[str, Any]:
    """``{"version": str | null, "history": [{"version": str, ...}, ...]}`` or refused."""
    version, history = pointer.get("version", ...), pointer.get("history", ...)
    if version is ... or history is ...:
        missing = [k for k, v in (("version", version), ("history", history)) if v is ...]
        raise RegistryError(f"{uri}: not a champion pointer (no {' or '.join(missing)})")
    if version is not None and not isinstance(version, str):
        raise RegistryError(f"{uri}: 'version' should be a string or null, found "
                            f"{type(version).__name__}")
    if not isinstance(history, list) or not all(
            isinstance(h, dict) and isinstance(h.get("version"), str) for h in history):
        raise RegistryError(f"{uri}: 'history' should be a list of objects with a 'version'")
    return pointer


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

    def version_parts(self, model: str, version: str, *rest: str) -> tuple[str, ...]:
        """The store path of a version's folder (or a file in it): the one spelling of the
        layout, for code that keeps its own files beside a version (``smoke``'s marker)."""
        return self._parts(model, "versions", version, *rest)

    def versions(self, model: str) -> list[str]:
        """Complete versions only: those whose meta.json (written last) exists."""
        files = self.store.list(*self._parts(model, "versions"))
        found = {f.split("/versions/")[1].split("/")[0] for f in files if f.endswith(META)}
        return sorted(found)

    def _claim_version(self, model: str) -> str:
        """Take the next free number by an exclusive create of its claim; on a conflict (a
        concurrent registrant took it) try the next one."""
        files = self.store.list(*self._parts(model, "versions"))
        taken = [int(name[1:]) for name in
                 {f.split("/versions/")[1].split("/")[0] for f in files}
                 if name[:1] == "v" and name[1:].isdigit()]
        first = max(taken, default=0) + 1
        for number in range(first, first + CLAIM_ATTEMPTS):
            version = f"v{number:04d}"
            claim = json.dumps({
                "model": model, "version": version, "host": socket.gethostname(),
                "pid": os.getpid(), "token": uuid.uuid4().hex,  # unique: our bytes only
                "claimed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }).encode()
            if self.store.write_bytes_if_absent(claim, *self._parts(model, "versions",
                                                                     version, CLAIM)):
                return version
        raise RegistryError(f"{model}: versions v{first:04d}..v{first + CLAIM_ATTEMPTS - 1:04d}"
                            " were all claimed by others while registering; try again")

    # -- write ------------------------------------------------------------------------------
    def register(self, model: str, state_dict: dict[str, torch.Tensor] | None,
                 meta: dict[str, Any], files: dict[str, bytes] | None = None) -> ModelVersion:
        """Store a new version: claim its number, write a torch ``state_dict`` (may be None)
        and other ``files`` in their library's own text/JSON format, then meta last (a
        version exists once meta does)."""
        blobs = dict(files or {})
        if any(name in blobs for name in RESERVED) or (state_dict is not None
                                                         and WEIGHTS in blobs):
            raise RegistryError(f"{model}: file names {META!r}/{CLAIM!r}/{WEIGHTS!r} are the "
                                "registry's")
        if state_dict is not None:
            import torch

            buf = io.BytesIO()
            torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, buf)
            blobs[WEIGHTS] = buf.getvalue()
        version = self._claim_version(model)
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
        meta_bytes = json.dumps(full, indent=2, sort_keys=True, default=str).encode()
        if not self.store.write_bytes_if_absent(meta_bytes, *self._parts(
                model, "versions", version, META)):  # only a writer ignoring claims gets here
            raise RegistryError(f"{model}: {version} was written by someone else meanwhile")
        return ModelVersion(model, version, full)

    def _read_pointer(self, model: str) -> tuple[dict[str, Any], str | None]:
        """The pointer and its tag (None: no pointer yet, the empty one)."""
        uri = self.store.uri(*self._parts(model, CHAMPION))
        try:
            data, tag = self.store.read_with_tag(uri)
        except FileNotFoundError:
            return {"version": None, "history": []}, None
        return _check_pointer(uri, _json_object(uri, data)), tag

    def _pointer(self, model: str) -> dict[str, Any]:
        return self._read_pointer(model)[0]

    def _update_pointer(self, model: str, change: Callable[[dict[str, Any]], None]
                        ) -> dict[str, Any]:
        """Apply ``change`` to the pointer by compare-and-swap: re-read and re-apply when a
        concurrent writer changed it between our read and our write."""
        for attempt in range(POINTER_ATTEMPTS):
            pointer, tag = self._read_pointer(model)
            change(pointer)
            if self.store.write_bytes_if_tag(json.dumps(pointer, indent=2).encode(), tag,
                                             *self._parts(model, CHAMPION)):
                return pointer
            time.sleep(random.uniform(0, min(0.5, 0.01 * 2 ** attempt)))  # de-synchronise
        raise RegistryError(
            f"{model}: {self.store.uri(*self._parts(model, CHAMPION))} changed under us "
            f"{POINTER_ATTEMPTS} times in a row (concurrent promotions); nothing written, "
            "try again")

    @staticmethod
    def _move(pointer: dict[str, Any], version: str, reason: str, kind: str) -> None:
        pointer["history"].append({
            "version": version, "previous": pointer["version"], "reason": reason, "kind": kind,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        })
        pointer["version"] = version

    def promote(self, model: str, version: str, reason: str, kind: str = "promote") -> None:
        """Make ``version`` the champion: one atomic, conditional write of the pointer."""
        if version not in self.versions(model):
            raise RegistryError(f"{model}: no version {version} to promote")
        self._update_pointer(model, lambda p: self._move(p, version, reason, kind))

    def rollback(self, model: str, reason: str = "manual rollback") -> str:
        """Undo the promotion that made the current champion; returns the restored version
        (decided on the pointer as it is when the write lands)."""
        restored: list[str] = []

        def change(pointer: dict[str, Any]) -> None:
            current = pointer["version"]
            previous = next((h.get("previous") for h in reversed(pointer["history"])
                             if h["version"] == current
                             and h.get("kind", "promote") == "promote"), None)
            if previous is None:
                raise RegistryError(f"{model}: nothing to roll back to from {current}")
            restored[:] = [previous]
            self._move(pointer, previous, reason, "rollback")

        self._update_pointer(model, change)
        return restored[0]

    # -- read -------------------------------------------------------------------------------
    def champion_version(self, model: str) -> str | None:
        return self._pointer(model)["version"]

    def history(self, model: str) -> list[dict[str, Any]]:
        return self._pointer(model)["history"]

    def get(self, model: str, version: str) -> ModelVersion:
        uri = self.store.uri(*self._parts(model, "versions", version, META))
        try:
            data = self.store.read_bytes(uri)
        except FileNotFoundError as exc:
            raise RegistryError(f"{model}: no version {version}") from exc
        return ModelVersion(model, version, _check_meta(uri, _json_object(uri, data)))

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
        import torch

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
