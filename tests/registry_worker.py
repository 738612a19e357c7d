"""A registrant in its own process, for the registry's concurrency tests: waits for a start
file (so every worker's first write races the others'), then registers and promotes ``count``
versions of ``fraud`` and prints the versions it got as JSON.

    python -m tests.registry_worker ROOT ENDPOINT|- WRITER COUNT START_FILE

No torch: the versions carry a text file, so a worker starts in a fraction of a second.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from lakeloop.registry.model_registry import ModelRegistry
from lakeloop.settings import S3Settings
from lakeloop.storage import ObjectStore


def payload(writer: int, n: int) -> bytes:
    """What writer ``writer`` stores as its ``n``-th version's file (checked by the test)."""
    return f"writer {writer} version {n}\n".encode() * 1000


def main(root: str, endpoint: str, writer: int, count: int, start: Path) -> list[str]:
    store = ObjectStore(root, S3Settings(endpoint_url=endpoint) if endpoint != "-" else None)
    registry = ModelRegistry(store)
    deadline = time.monotonic() + 60
    while not start.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no start signal")
        time.sleep(0.005)
    got = []
    for n in range(count):
        mv = registry.register("fraud", None, {"writer": writer, "n": n, "code_version": "test"},
                               files={"model.txt": payload(writer, n)})
        registry.promote("fraud", mv.version, f"writer {writer} #{n}")
        got.append(mv.version)
    return got


if __name__ == "__main__":
    root_, endpoint_, writer_, count_, start_ = sys.argv[1:6]
    print(json.dumps(main(root_, endpoint_, int(writer_), int(count_), Path(start_))))
