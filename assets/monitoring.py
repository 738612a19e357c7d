"""Monitoring assets: daily data and prediction drift per domain, Evidently reports kept."""

from collections.abc import Iterator
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from assets.metadata import not_materialized, rounded, step_asset
from assets.partitions import partition_day
from lakeloop import names
from lakeloop.contracts.domains import Domain
from lakeloop.names import PARTITION_COLUMN
from resources import LakeResource, RegistryResource

if TYPE_CHECKING:
    from lakeloop.monitoring.domain_monitor import StoredReport
    from lakeloop.monitoring.evidently_workspace import MonitoringWorkspace

MEASURED = "measured"  # metadata flag: False on an observed day, True on a materialized one


class _Calibrated(dg.Config):
    """What both domains' drift monitors share: thresholds learnt from the champion's own
    history to a false-alarm budget (``lakeloop.monitoring.calibration``); the fixed thresholds of
    each domain's config only decide while no calibration can be learnt (fewer than 5 quiet
    days before the reference week) or with ``calibrate: false``."""

    calibrate: bool = Field(True, description="learn the thresholds from the champion's "
                            "training history (false: the fixed thresholds below)")
    false_episodes: float = Field(1.0, description="false-alarm budget: expected false drift "
                                  "episodes on quiet data ... (the contract's "
                                  "monitoring.false_alarm_budget wins)")
    budget_days: int = Field(60, description="... per this many days")
    column_nature: bool = Field(True, description="few-valued numbers compared value by "
                                "value, many-valued ones on reference-quantile bins")
    sample_size: int = Field(5_000, description="rows sampled (seeded) from each side")
    reference_days: int = Field(7, description="newest days of the champion's training window "
                                "that form the reference")
    max_current_days: int = Field(7, description="a thin day is pooled with at most this many "
                                  "days before it")


class EventDriftConfig(_Calibrated):
    """Fixed thresholds (used without a calibration): set on the demo's quiet days (README):
    column PSI stayed at or below 0.036 and score PSI below 0.011; 15 % of the monitored
    columns or 3 columns, or the score, make a drifted day. On a real 121-column table they
    flagged every quiet day (issue 25): the calibration replaces them as soon as the champion's
    history allows."""

    column_threshold: float = Field(0.05, description="PSI at which a column counts as drifted")
    drift_share: float = Field(0.15, description="share of drifted columns = dataset drift")
    min_drifted_columns: int | None = Field(
        3, description="... or at least this many drifted columns, whatever their share "
        "(a new pattern moves a handful of a wide table's columns)")
    prediction_threshold: float = Field(0.05, description="PSI of the score distribution vs "
                                        "the champion's first week of scores")
    min_current_rows: int = Field(
        1_000, description="a day with fewer events is measured together with the days "
        "before it (newest first) until they hold this many (0: the day alone); calibrated, "
        "the lower quartile of the quiet days' rows when larger")
    method: str = Field("psi", description="Evidently drift method per column")


class SeriesDriftConfig(_Calibrated):
    """One row per series a day, indices over each series' weekday level; a level shift moves
    the index distribution's location more than its shape: normed Wasserstein distance, not
    PSI. Fixed thresholds (used without a calibration) were set on the demo's quiet days."""

    column_threshold: float = Field(0.3, description="distance at which a column drifted")
    drift_share: float = Field(0.5, description="share of drifted columns = dataset drift")
    prediction_threshold: float = Field(0.5, description="distance of the next-day forecast "
                                        "index vs the champion's first week of forecasts")
    min_current_rows: int = Field(
        200, description="a day with fewer regular-price series rows is measured together "
        "with the days before it (newest first) until they hold this many: a normed "
        "Wasserstein distance on n rows has a sampling spread of ~1/sqrt(n) (0.07 at 200), "
        "so a feed of 50 series is judged on ~4 days pooled, not on 40 noisy rows")
    method: str = Field("wasserstein", description="Evidently drift method per column")


class PerformanceConfig(dg.Config):
    min_maturity_days: int = Field(14, description="days labels get before a day is judged, "
                                   "at least (chargebacks arrive 1-30 days late, median 7)")
    pool_days: int = Field(7, description="days of matured scores pooled for the PR-AUC")
    false_episodes: float = Field(1.0, description="false-alarm budget shared with the drift "
                                  "signals: a week counts as decayed when its PR-AUC is below "
                                  "the champion's test PR-AUC by more than its own sampling "
                                  "and period-to-period spread allow (the contract's "
                                  "monitoring.false_alarm_budget wins)")
    budget_days: int = Field(60, description="... per this many days")


def _workspace(lake: LakeResource) -> "MonitoringWorkspace":
    from lakeloop.monitoring.evidently_workspace import workspace_for

    return workspace_for(lake.root)


def _report_links(report: "StoredReport") -> dict:
    """Links a browser opens (issue 12: paths only copied text, S3 ones were s3:// strings):
    the day's snapshot in the Evidently UI (``make dev`` serves it), its project's dashboard
    (the days over time), and the JSON as a ``file://`` / AWS console URL where there is one.
    ``report_bytes``: what the day keeps (JSON + snapshot), plotted so growth shows."""
    links: dict = {"report_bytes": report.size_bytes}
    if report.snapshot is not None:
        links["report"] = dg.MetadataValue.url(report.snapshot.url)
        links["dashboard"] = dg.MetadataValue.url(report.snapshot.dashboard_url)
    if report.json_url is not None:
        links["report_json"] = dg.MetadataValue.url(report.json_url)
    return links


def _calibration_metadata(drift) -> dict:  # noqa: ANN001 - a DayDrift
    """The thresholds in force and where they come from: the budget, the null days, the
    score's threshold, each column's share of today's score (top 10) and learnt threshold."""
    cal, score = drift.calibration, drift.result.score
    if cal is None or score is None:
        return {"thresholds": f"fixed: not calibrated ({drift.calibration_note})"}
    top = sorted(score.contributions.items(), key=lambda kv: -kv[1])[:10]
    return {
        "thresholds": f"calibrated on {len(cal.null_days)} quiet days"
        + ("" if cal.source == "history" else f" ({cal.source})") + f", {cal.budget.describe()}",
        "reference": drift.reference or drift.champion,
        "calibration": dg.MetadataValue.json(cal.summary()),
        "score_contributions": dg.MetadataValue.json(dict(top)),
        **({"not_judged": score.unjudged} if score.unjudged else {}),
    }


def _result(context: dg.AssetExecutionContext, lake: LakeResource, drift  # noqa: ANN001
            ) -> dg.MaterializeResult | dg.AssetObservation:
    from lakeloop.monitoring.domain_monitor import store_reports
    from lakeloop.names import drift_table

    if drift is None:
        return not_materialized(context, "no champion yet: no reference to measure drift "
                                "against", MEASURED)
    storage = lake.lake()
    reports = store_reports(lake.store(), _workspace(lake), drift)
    # evolve: a drift table written before issue 25 gains the reference and score columns
    version = storage.overwrite_partition(drift_table(drift.domain), drift.row(), drift.day,
                                          evolve=True)
    r = drift.result
    if r.dataset_drift:
        context.log.warning(f"{drift.domain} drift on {drift.day}: {r.drifted_columns}")
    return dg.MaterializeResult(metadata={
        "measured": True,
        **rounded(r.figures()),
        "champion": drift.champion,
        "drifted": dg.MetadataValue.json(r.drifted_columns),
        "column_drift": dg.MetadataValue.json({k: round(v, 4) for k, v in r.column_drift.items()}),
        "skipped": dg.MetadataValue.json(r.skipped),
        **_calibration_metadata(drift),
        **_report_links(reports),
        "delta_version": version,
    })


def drift_asset(domain: Domain, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    events = domain.kind == "classification"
    config_type = EventDriftConfig if events else SeriesDriftConfig

    @step_asset(name=names.drift_asset(domain.name), partitions_def=partitions,
              group_name=names.group(domain.name, "monitoring"), kinds={"evidently"},
              output_required=False,  # nothing to measure: observed, not green
              deps=[domain.features_asset, domain.predictions_asset],
              description="Drift of the day vs the champion's newest training week: its inputs "
              "(the contract's `monitoring` narrows them), method by type and cardinality, "
              "missing shares; prediction drift vs its first week; the Evidently snapshot in "
              f"the workspace's '{domain.name} drift' project (linked), JSON under "
              f"reports/{domain.name}_drift/.")
    def _drift(context: dg.AssetExecutionContext, config: config_type,  # type: ignore[valid-type]
               lake: LakeResource, registry: RegistryResource
               ) -> Iterator[dg.MaterializeResult | dg.AssetObservation]:
        from lakeloop.monitoring.domain_monitor import event_day_drift, series_day_drift
        from lakeloop.monitoring.measure import DriftConfig

        measure = event_day_drift if events else series_day_drift
        cfg = DriftConfig(**config.model_dump())  # type: ignore[attr-defined]
        drift = measure(lake.lake(), registry.registry(), domain, partition_day(context), cfg)
        yield _result(context, lake, drift)

    return _drift


def performance_asset(domain: Domain, partitions: dg.PartitionsDefinition
                      ) -> dg.AssetsDefinition:
    label_deps = [names.ingest_asset(domain.labels.name)] if domain.labels else []

    @step_asset(name=names.performance_asset(domain.name), partitions_def=partitions,
              group_name=names.group(domain.name, "monitoring"), kinds={"polars", "evidently"},
              output_required=False,  # nothing to measure: observed, not green
              deps=[domain.predictions_asset, *label_deps],
              description="The champion's realised PR-AUC / recall on the day whose labels just "
              "matured, pooled over a week vs its test PR-AUC: `decayed` feeds the drift sensor.")
    def _performance(context: dg.AssetExecutionContext, config: PerformanceConfig,
                     lake: LakeResource, registry: RegistryResource
                     ) -> Iterator[dg.MaterializeResult | dg.AssetObservation]:
        import polars as pl

        from lakeloop.monitoring.domain_monitor import (
            budget_for,
            classification_performance,
            performance_table,
            store_report,
        )
        from lakeloop.monitoring.measure import DriftConfig
        from lakeloop.monitoring.quality_reports import classification_report

        day, storage = partition_day(context), lake.lake()
        realised = classification_performance(
            storage, registry.registry(), domain, day,
            budget=budget_for(domain, DriftConfig(false_episodes=config.false_episodes,
                                                  budget_days=config.budget_days)),
            pool_days=config.pool_days, min_maturity_days=config.min_maturity_days)
        if realised is None:
            yield not_materialized(context, "no matured scored day yet", MEASURED)
            return
        result = realised.figures
        report = classification_report(realised.rows, "y", "score")  # pooled week
        links = {} if report is None else _report_links(store_report(
            lake.store(), _workspace(lake), names.performance_asset(domain.name), day, *report,
            {"domain": domain.name, "champion": str(result["model_version"])}))
        # evolve: tables written before the learnt decay verdict gain its columns
        storage.overwrite_partition(performance_table(domain.name), pl.DataFrame([result]), day,
                                    evolve=True)
        if result["decayed"]:
            context.log.warning(f"{domain.name} performance decayed: pooled PR-AUC "
                                f"{result['pr_auc_pooled']:.3f} below its floor "
                                f"{result['decay_floor']:.3f} (test {result['test_pr_auc']:.3f})")
        meta = {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                for k, v in result.items()
                if k != PARTITION_COLUMN and v is not None and v == v}  # v != v: NaN, not judged
        yield dg.MaterializeResult(metadata={"measured": True, **rounded(meta), **links})

    return _performance


def accuracy_asset(domain: Domain, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @step_asset(name=names.accuracy_asset(domain.name), partitions_def=partitions,
              group_name=names.group(domain.name, "monitoring"), kinds={"polars", "evidently"},
              output_required=False,  # nothing to measure: observed, not green
              deps=[domain.features_asset, domain.predictions_asset],
              description="Realised MAE / sMAPE / WAPE and p10-p90 coverage of every forecast "
              "that targeted the day, now that its actuals landed.")
    def _accuracy(context: dg.AssetExecutionContext, lake: LakeResource
                  ) -> Iterator[dg.MaterializeResult | dg.AssetObservation]:
        import polars as pl

        from lakeloop.monitoring.domain_monitor import (
            forecast_accuracy,
            store_report,
        )
        from lakeloop.monitoring.quality_reports import regression_report
        from lakeloop.names import accuracy_table

        day, storage = partition_day(context), lake.lake()
        realised = forecast_accuracy(storage, domain, day)
        if realised is None:
            yield not_materialized(context, "no forecast targeted this day", MEASURED)
            return
        result = realised.figures
        by_h = {str(k): round(v, 3) for k, v in result.pop("mae_by_horizon").items()}
        links = _report_links(store_report(
            lake.store(), _workspace(lake), names.accuracy_asset(domain.name), day,
            *regression_report(realised.rows, "actual", "p50"),
            {"domain": domain.name, "champion": str(result["model_version"])}))
        storage.overwrite_partition(accuracy_table(domain.name), pl.DataFrame([result]), day)
        yield dg.MaterializeResult(metadata={
            "measured": True, **rounded({k: v for k, v in result.items() if k != PARTITION_COLUMN}),
            "mae_by_horizon": dg.MetadataValue.json(by_h), **links})

    return _accuracy


def episodes_check_name(domain: str) -> str:
    return f"{domain}_drift_episodes"


def episodes_evaluation(domain: str, lake) -> dg.AssetCheckEvaluation:  # noqa: ANN001 - a Lake
    """The alerts view: the domain's drift episodes from the alerts log, failing (as a
    warning) while one is open - what the drift sensor last told people, at a glance on the
    drift asset. The nightly run evaluates it, and the sensor reports it on every tick that
    opens or resolves an episode."""
    from lakeloop.alerting.episodes import episodes, episodes_markdown
    from lakeloop.names import ALERTS_TABLE

    alerts = lake.scan(ALERTS_TABLE).collect() if lake.exists(ALERTS_TABLE) else None
    frame = episodes(alerts, domain)
    open_now = frame.filter("open")
    newest = frame.row(0, named=True) if frame.height else None
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(names.drift_asset(domain)), check_name=episodes_check_name(domain),
        passed=open_now.is_empty(), severity=dg.AssetCheckSeverity.WARN,
        description=(f"{domain}: drift episode {open_now['episode'][0]} open since "
                     f"{open_now['opened'][0]}" if open_now.height else
                     f"{domain}: no open drift episode ({frame.height} resolved so far)"),
        metadata={"open_episodes": open_now.height, "episodes_total": frame.height,
                  "episodes": dg.MetadataValue.md(episodes_markdown(frame)),
                  "newest_action": (newest or {}).get("action") or "none"})


def episodes_check(domain: Domain) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=names.drift_asset(domain.name), name=episodes_check_name(domain.name),
                    blocking=False,
                    description="Alerts view: every drift episode the sensor alerted on, open "
                    "and resolved, newest first; warns while one is open.")
    def _episodes(lake: LakeResource) -> dg.AssetCheckResult:
        e = episodes_evaluation(domain.name, lake.lake())
        return dg.AssetCheckResult(passed=e.passed, severity=e.severity,
                                   description=e.description, metadata=e.metadata)

    return _episodes


def monitoring_assets(domain: Domain, partitions: dg.PartitionsDefinition
                      ) -> list[dg.AssetsDefinition | dg.AssetChecksDefinition]:
    realised = performance_asset if domain.kind == "classification" else accuracy_asset
    return [drift_asset(domain, partitions), realised(domain, partitions),
            episodes_check(domain)]
