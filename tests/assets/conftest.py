"""The assets tier: Dagster definitions built and materialized in process."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest


@pytest.fixture(autouse=True)
def live_dagster_context() -> Iterator[None]:
    """Each test runs inside a live (ephemeral) Dagster instance context.

    Why: building ``Definitions`` reads the instance of the current context. A resource
    initialised outside a run (a sensor evaluated in a test) enters an ephemeral instance of
    its own and does not leave it, so a later test could find that instance gone and fail
    depending on which tests ran before it. With this, each test can run alone or in any
    order; a test that needs its own instance opens one inside."""
    with dg.DagsterInstance.ephemeral():
        yield
