"""Where the benches keep their figures: one JSON file each, one entry per domain measured."""

from __future__ import annotations

import json
from pathlib import Path


def save(path: Path, key: str, figures: dict) -> None:
    """Store ``figures`` under ``key`` in ``path``, keeping the other keys' figures (a run
    for demand leaves fraud's in place)."""
    path.parent.mkdir(exist_ok=True)
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved[key] = figures
    path.write_text(json.dumps(saved, indent=2) + "\n")
