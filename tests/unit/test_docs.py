"""The documentation builds without a warning, and the README stays a front door."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README_MAX_LINES = 150


def test_the_docs_site_builds_strict(tmp_path: Path) -> None:
    """``mkdocs build --strict`` fails on a broken link, a page missing from the nav, or a
    generated page (the contract reference, the import graph) that no longer builds."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    reference = (tmp_path / "reference" / "contract" / "index.html").read_text()
    assert "landing_dir" in reference and "closed_weekdays" in reference
    architecture = (tmp_path / "architecture" / "index.html").read_text()
    assert "lakeloop.ingest" in architecture and "mermaid" in architecture


def test_the_readme_is_a_front_door_whose_links_resolve() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert links, "the README points nowhere"
    missing = [link for link in links if "://" not in link and not (ROOT / link).exists()]
    assert not missing, f"README links to missing files: {missing}"
