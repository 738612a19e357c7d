"""A registered classifier loaded and scored in a child process before it serves.

A model file can pass its checksum and still be malformed (a writer's bug, a hand edit): a
LightGBM model text whose tree does not parse throws inside the library's parallel loader,
and the C++ runtime aborts the whole process (``[Fatal] ... terminate called``, SIGABRT). In
the run worker that ends the run without a step failure, and the run stays STARTED. So the
version's files - verified against their checksums - are copied into a scratch registry,
and a child process loads them the way scoring does and scores a few of the day's rows: a
native crash kills only the child, and becomes a refusal that names the file and the signal.

A version that passed is marked (``loadable.json``, keyed by its files' digests), so the
check costs one child process per version, not one per night.

    python -m lakeloop.models.classification.smoke <scratch root> <model> <version> <rows.parquet>
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl

from lakeloop.registry.model_registry import (
    META,
    WEIGHTS,
    ModelRegistry,
    ModelVersion,
    RegistryError,
)
from lakeloop.storage import ObjectStore

MARKER = "loadable.json"
TIMEOUT_S = 600  # a load and a few rows scored; past this the child is taken as hung
SAMPLE_ROWS = 64


class ModelUnusable(RegistryError):
    """A registered model that cannot be loaded and scored; the message names its files."""


def _digest(mv: ModelVersion) -> str:
    sums = mv.meta.get("files_sha256", {})
    return hashlib.sha256(json.dumps(sums, sort_keys=True).encode()).hexdigest()


def ensure_loadable(registry: ModelRegistry, mv: ModelVersion, rows: pl.DataFrame) -> bool:
    """Raise ``ModelUnusable`` unless ``mv`` loads and scores ``rows`` (a few of them) in a
    child process; True when this call ran the check, False when a marker said it passed."""
    marker = registry.version_parts(mv.model, mv.version, MARKER)
    try:
        if json.loads(registry.store.read_bytes(registry.store.uri(*marker))).get("files") \
                == _digest(mv):
            return False
    except (FileNotFoundError, ValueError):
        pass
    with tempfile.TemporaryDirectory(prefix="lakeloop-smoke-") as scratch:
        copy = ModelRegistry(ObjectStore(scratch))  # the same layout, on local disk
        folder = Path(copy.store.uri(*copy.version_parts(mv.model, mv.version)))
        folder.mkdir(parents=True)
        names = list(mv.meta.get("files_sha256", {}))
        if "weights_sha256" in mv.meta and WEIGHTS not in names:  # versions before files_sha256
            names.append(WEIGHTS)
        for name in names:
            (folder / name).write_bytes(registry.load_file(mv, name))  # checksums verified
        (folder / META).write_text(json.dumps(mv.meta))
        sample = Path(scratch, "rows.parquet")
        rows.head(SAMPLE_ROWS).write_parquet(sample)
        try:
            child = subprocess.run(
                [sys.executable, "-m", "lakeloop.models.classification.smoke", scratch, mv.model,
                 mv.version, str(sample)], capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise ModelUnusable(f"{mv.model} {mv.version}: loading {', '.join(names)} did not "
                                f"finish in {TIMEOUT_S} s") from exc
    if child.returncode != 0:
        tail = " | ".join((child.stderr or child.stdout).strip().splitlines()[-3:])
        how = (f"killed the loading process ({signal.Signals(-child.returncode).name})"
               if child.returncode < 0 else f"failed to load (exit {child.returncode})")
        raise ModelUnusable(f"{mv.model} {mv.version}: {', '.join(names)} {how}; the model "
                            f"cannot serve - roll back (`lakeloop models rollback`) or retrain. "
                            f"Last output: {tail[:500]}")
    registry.store.write_bytes(json.dumps({"files": _digest(mv)}).encode(), *marker)
    return True


def _child(scratch: str, model: str, version: str, rows: str) -> None:
    from lakeloop.models.classification.lifecycle import load_classifier
    from lakeloop.models.compute import compute

    registry = ModelRegistry(ObjectStore(scratch))
    classifier = load_classifier(registry, registry.get(model, version))
    frame = pl.read_parquet(rows)
    if frame.height:  # a day without rows: loading is the check
        classifier.score(frame, compute())  # the device scoring would use


if __name__ == "__main__":
    _child(*sys.argv[1:5])
