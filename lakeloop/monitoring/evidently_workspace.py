"""Each monitoring day's Evidently snapshot, kept in an Evidently workspace for ``evidently ui``.

Why a workspace and not an HTML file per day: Evidently's HTML embeds its whole JS bundle
(~4 MB a day and monitor, 410 MB over 90 days); a snapshot holds the results and their
widgets only, ``evidently ui`` renders it, and its dashboards plot the days over time.

Layout (Evidently 0.7's local workspace, the folder ``evidently ui --workspace`` reads):
one project per monitor and domain (``"fraud drift"``, ``"fraud performance"``, ``"demand
drift"``, ``"demand accuracy"``), each with a dashboard, and one snapshot per data day.

Why the workspace's storage layer (``LocalState``, what ``Workspace`` itself writes with) and
not ``Workspace``: ``Workspace(path)`` parses every stored snapshot when it opens (measured:
1.8 s with 60 drift days, linear in history), and every daily run would pay for all the days
before it. The files are the same; ``Workspace`` and ``evidently ui`` read them (tested).

Idempotent by construction, so concurrent runs and re-runs agree without a lock:

* a project is found by name; if there is none it is created with an id derived from its name
  (two runs creating it at once write the same project);
* a day's snapshot id is derived from (project, day): re-running a day *replaces* that day's
  snapshot (same id, same URL, the newest measurement), it never adds a second one;
* dashboard panels are added when missing (by title), with ids derived from their titles.

The snapshot's timestamp is the data day (midnight), not the wall clock, so dashboards order by
the day measured (a backfill run today lands on its own day), and the day is in its tags and
metadata.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lakeloop.settings import EVIDENTLY_URL

if TYPE_CHECKING:
    from evidently.core.report import Snapshot
    from evidently.sdk.models import DashboardModel, DashboardPanelPlot
    from evidently.ui.storage.local.base import LocalState

# fixed, so project / snapshot / panel ids derived from names are the same in every process
NAMESPACE = uuid.UUID("6f0c2c1e-1c55-4d0e-9a51-8a2b0c7e4d11")
TAB = "Over time"


@dataclass(frozen=True)
class Panel:
    """One dashboard panel: a metric of each day's snapshot, plotted over the days."""

    title: str
    metric: str  # Evidently metric type name (DriftedColumnsCount, ValueDrift, ...)
    labels: tuple[tuple[str, str], ...] = ()  # metric labels that select the value plotted
    legend: str | None = None  # ``{{label}}`` placeholders are filled by the UI
    plot: str = "line"  # line | bar
    size: str = "half"
    description: str | None = None


# What each monitor's dashboard plots (the metric names are those of the reports we store:
# lakeloop.monitoring.measure, lakeloop.monitoring.quality_reports)
PANELS: dict[str, tuple[Panel, ...]] = {
    "drift": (
        Panel("Share of drifted columns", "DriftedColumnsCount", (("value_type", "share"),),
              "share", description="columns whose distribution drifted / columns compared"),
        Panel("Drifted columns", "DriftedColumnsCount", (("value_type", "count"),), "count",
              plot="bar"),
        Panel("Drift per column", "ValueDrift", (), "{{column}}", size="full",
              description="distance of each monitored column vs the reference week"),
    ),
    "performance": (
        Panel("PR-AUC (pooled week)", "PrAuc", (), "PR-AUC",
              description="the decay rule compares it with the champion's test PR-AUC"),
        Panel("Recall at the alert rate", "RecallAtAlertRate", (), "top {{rate}}"),
        Panel("ROC AUC", "RocAuc", (), "ROC AUC"),
    ),
    "accuracy": (
        Panel("MAE", "MAE", (("value_type", "mean"),), "MAE"),
        Panel("WAPE", "Wape", (), "WAPE"),
    ),
}


def project_name(kind: str) -> str:
    """``fraud_drift`` -> ``fraud drift`` (the kind is the asset's name)."""
    return kind.replace("_", " ")


def monitor_of(kind: str) -> str:
    """``fraud_drift`` -> ``drift``: which panels the project's dashboard gets."""
    return kind.rsplit("_", 1)[-1]


@dataclass(frozen=True)
class StoredSnapshot:
    """Where a day's snapshot went: its ids, the file, and the pages that show it."""

    project_id: str
    snapshot_id: str
    path: Path
    url: str  # the snapshot's page in the Evidently UI
    dashboard_url: str  # the project's dashboard (the days over time)

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


class MonitoringWorkspace:
    """An Evidently local workspace under ``path``; links point at the UI served at ``url``."""

    def __init__(self, path: Path | str, url: str = EVIDENTLY_URL) -> None:
        self.path = Path(path).absolute()
        self.url = url.rstrip("/")
        self._local: LocalState | None = None

    @property
    def _state(self) -> LocalState:
        """Evidently's file layout, made (and Evidently imported) on first use: a sensor tick
        that sends no alert touches neither."""
        if self._local is None:
            from evidently.ui.storage.local.base import LocalState

            self.path.mkdir(parents=True, exist_ok=True)
            self._local = LocalState(str(self.path))
        return self._local

    # -- links ----------------------------------------------------------------------------
    def project_url(self, project_id: uuid.UUID | str) -> str:
        """The project's dashboard page (the UI's ``/projects/:projectId`` route)."""
        return f"{self.url}/projects/{project_id}"

    def snapshot_url(self, project_id: uuid.UUID | str, snapshot_id: uuid.UUID | str) -> str:
        """The snapshot's report page: ``/projects/:projectId/reports/:snapshotId`` is the
        route of Evidently 0.7's UI (its router in ui/service/assets; the API serves the same
        snapshot at ``/api/projects/<project>/<snapshot>/data``)."""
        return f"{self.url}/projects/{project_id}/reports/{snapshot_id}"

    # -- projects -------------------------------------------------------------------------
    def find_project(self, kind: str) -> uuid.UUID | None:
        """The id of the project named after ``kind``, if the workspace has one."""
        name = project_name(kind)
        for project_id in self._state.list_projects():
            try:
                if self._state.read_project(project_id).name == name:
                    return uuid.UUID(str(project_id))
            except (FileNotFoundError, ValueError):  # no or half-written metadata.json
                continue
        return None

    def project(self, kind: str) -> uuid.UUID:
        """The project of ``kind`` (e.g. ``fraud_drift``): found by name, else created; its
        dashboard panels are added if missing."""
        from evidently.sdk.models import ProjectModel

        project_id = self.find_project(kind)
        if project_id is None:
            name = project_name(kind)
            project_id = uuid.uuid5(NAMESPACE, f"project:{name}")
            self._state.write_project(ProjectModel(
                id=project_id, name=name,
                description=f"lakeloop {name}: one snapshot per data day (asset {kind})"))
        self._ensure_dashboard(project_id, kind)
        return project_id

    def _ensure_dashboard(self, project_id: uuid.UUID, kind: str) -> None:
        """Add the monitor's panels that the dashboard lacks (by title); a dashboard a person
        arranged keeps its other panels and tabs. Written only when something was missing."""
        from evidently.sdk.models import DashboardTabModel

        wanted = PANELS.get(monitor_of(kind), ())
        dashboard: DashboardModel = self._state.read_dashboard(project_id)
        have = {p.title for p in dashboard.panels}
        missing = [p for p in wanted if p.title not in have]
        if not missing:
            return
        tab = next((t for t in dashboard.tabs if t.title == TAB), None)
        if tab is None:
            tab = DashboardTabModel(id=uuid.uuid5(project_id, f"tab:{TAB}"), title=TAB,
                                    panels=[])
            dashboard.tabs.append(tab)
        for panel in missing:
            plot = _panel_plot(project_id, panel)
            dashboard.panels.append(plot)
            tab.panels.append(plot.id)
        self._state.write_dashboard(project_id, dashboard)

    def dashboard(self, kind: str) -> DashboardModel:
        """The project's dashboard as stored (for checks and tests)."""
        return self._state.read_dashboard(self.project(kind))

    # -- snapshots ------------------------------------------------------------------------
    def snapshot_id(self, project_id: uuid.UUID, day: dt.date) -> uuid.UUID:
        """One id per project and data day: a re-run overwrites the day, never adds one."""
        return uuid.uuid5(project_id, f"day:{day.isoformat()}")

    def add_day(self, kind: str, day: dt.date, snapshot: Snapshot,
                metadata: dict[str, str] | None = None) -> StoredSnapshot:
        """Store ``snapshot`` as the ``day`` of ``kind``'s project, replacing an earlier one of
        that day. Stamped with the data day (timestamp, ``day=`` tag, metadata) and named.

        Per-metric widgets are dropped: the UI's report page and its HTML download render the
        snapshot's top-level widgets, and the dashboards read the values; the per-metric
        copies repeat the same histograms (half of a drift snapshot's bytes)."""
        project_id = self.project(kind)
        model = snapshot.to_snapshot_model()
        stamped = model.copy(update={
            "name": f"{project_name(kind)} {day.isoformat()}",
            "timestamp": dt.datetime.combine(day, dt.time()),
            "tags": sorted({*model.tags, kind, f"day={day.isoformat()}"}),
            "metadata": {**model.metadata, **(metadata or {}), "day": day.isoformat(),
                         "asset": kind},
            "metric_results": {k: r.copy(update={"widget": None})
                               for k, r in model.metric_results.items()},
        })
        snapshot_id = self.snapshot_id(project_id, day)
        self._state.write_snapshot(project_id, snapshot_id, stamped)
        return self._stored(project_id, snapshot_id)

    def _stored(self, project_id: uuid.UUID, snapshot_id: uuid.UUID) -> StoredSnapshot:
        from evidently.ui.storage.local.base import SNAPSHOTS_DIR_NAME

        return StoredSnapshot(
            project_id=str(project_id), snapshot_id=str(snapshot_id),
            path=self.path / str(project_id) / SNAPSHOTS_DIR_NAME / f"{snapshot_id}.json",
            url=self.snapshot_url(project_id, snapshot_id),
            dashboard_url=self.project_url(project_id))

    def day(self, kind: str, day: dt.date) -> StoredSnapshot | None:
        """The stored snapshot of ``kind`` on ``day``, if there is one (e.g. for an alert's
        link); reads no snapshot, adds nothing."""
        if not self.path.is_dir():
            return None
        project_id = self.find_project(kind)
        if project_id is None:
            return None
        stored = self._stored(project_id, self.snapshot_id(project_id, day))
        return stored if stored.path.is_file() else None


def _panel_plot(project_id: uuid.UUID, panel: Panel) -> DashboardPanelPlot:
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import bar_plot_panel, line_plot_panel

    make = bar_plot_panel if panel.plot == "bar" else line_plot_panel
    plot = make(title=panel.title, description=panel.description, size=panel.size,
                values=[PanelMetric(legend=panel.legend, metric=panel.metric,
                                    metric_labels=dict(panel.labels))])
    return plot.copy(update={"id": uuid.uuid5(project_id, f"panel:{panel.title}")})


def workspace_for(lake_root: str, environ: Mapping[str, str] | None = None
                  ) -> MonitoringWorkspace:
    """The workspace of the lake at ``lake_root`` (``EvidentlySettings``: the environment, else
    beside a local lake): what the monitoring assets write and the sensors link to."""
    from lakeloop.settings import EvidentlySettings

    settings = EvidentlySettings.from_env(lake_root, environ)
    return MonitoringWorkspace(settings.workspace, settings.url)
