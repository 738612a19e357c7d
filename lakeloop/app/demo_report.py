"""The closed-loop demo's summary and timeline plot, computed from the lake after the run.

Daily model quality is measured retrospectively with what is known at the end of the demo:
fraud PR-AUC of each day's scores against the chargebacks reported by then, and the WAPE of
each day's next-step forecast against the actuals that landed for it. The last
``FRAUD_MATURITY_DAYS`` days are left out of the fraud figures: most of their chargebacks have
not arrived by the end, so their PR-AUC would be understated for any model.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from typing import Any

import polars as pl
from sklearn.metrics import average_precision_score

from lakeloop import names
from lakeloop.catalog import data_tables
from lakeloop.contracts.domains import Domain
from lakeloop.names import PARTITION_COLUMN, SERIES_ID
from lakeloop.registry.describe import print_versions
from lakeloop.registry.model_registry import ModelRegistry
from lakeloop.settings import Settings
from lakeloop.storage import Lake, ObjectStore

METRIC = {"classification": "pr_auc", "forecast": "wape_next_day"}
HIGHER_IS_BETTER = {"pr_auc": True, "wape_next_day": False}
LABEL_MATURITY_DAYS = 7  # the median chargeback delay: later days' labels are mostly to come


def daily_pr_auc(lake: Lake, domain: Domain, until: dt.date) -> dict[dt.date, float]:
    """PR-AUC of each day's scores against every label known at the end of the run."""
    from lakeloop.training.training_sets import LABEL, known_positive_ids

    if not lake.exists(domain.predictions_table):
        return {}
    labels = known_positive_ids(lake, domain, until + dt.timedelta(days=366), None) \
        .rename({LABEL: "y"})
    scored = lake.scan(domain.predictions_table, None, until) \
        .join(labels, on=domain.main.roles.id, how="left") \
        .with_columns(pl.col("y").fill_null(0)).collect()
    out = {}
    for (day,), g in scored.partition_by(PARTITION_COLUMN, as_dict=True).items():
        if 0 < g["y"].sum() < g.height:
            out[day] = float(average_precision_score(g["y"].to_numpy(), g["score"].to_numpy()))
    return out


def daily_wape(lake: Lake, domain: Domain) -> dict[dt.date, float]:
    """Weighted absolute percentage error of next-step p50 forecasts (scale-free, so a level
    shift does not by itself look like a worse model); ``metrics.wape``, the backtest's own."""
    from lakeloop.models.metrics import wape

    if not lake.exists(domain.predictions_table):
        return {}
    fc = lake.scan(domain.predictions_table).filter(pl.col("horizon") == 1)
    actual = lake.scan(domain.features_table).select(
        SERIES_ID, pl.col(PARTITION_COLUMN).alias("target_date"), "target")
    joined = fc.join(actual, on=[SERIES_ID, "target_date"], how="inner") \
        .select(PARTITION_COLUMN, "p50", "target").collect()
    return {day: wape(g["target"].to_numpy(), g["p50"].to_numpy())
            for (day,), g in joined.partition_by(PARTITION_COLUMN, as_dict=True).items()}


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return round(sum(values) / len(values), 4) if values else None


def _recovered(before: float | None, during: float | None, after: float | None,
               higher_is_better: bool = True) -> float | None:
    """Share of the drift's loss the retrain won back: (after - during) / (before - during);
    None when there was no loss to win back (the drift did not make the metric worse)."""
    if before is None or during is None or after is None \
            or _loss(before, during, higher_is_better) < 1e-9:
        return None
    return round((after - during) / (before - during), 3)


def _loss(before: float, during: float, higher_is_better: bool) -> float:
    """How much worse the metric got during the drift (negative: it got better)."""
    return before - during if higher_is_better else during - before


def drift_note(metric: str, before: float | None, during: float | None,
               after: float | None, detected: bool) -> str:
    """The loop's outcome in words, so a drift that did not hurt the served model is not
    read as a failed recovery (a negative "recovered" share)."""
    if before is None or during is None:
        return "no drift window measured" if detected else "drift not detected"
    if _loss(before, during, HIGHER_IS_BETTER[metric]) <= 0:
        return (f"the drift did not hurt the served model ({metric} {before:.3f} before, "
                f"{during:.3f} during): nothing to recover")
    if after is None:
        return (f"the drift hurt ({metric} {before:.3f} -> {during:.3f}); no retrained model "
                "served long enough to measure a recovery")
    return f"the drift hurt ({metric} {before:.3f} -> {during:.3f}); after the retrain {after:.3f}"


def build_summary(lake: Lake, domains: dict[str, Domain], first: dt.date, last: dt.date,
                  drift_day: dt.date | None, retrains: dict[str, list[dict[str, Any]]],
                  champions: dict[str, list]) -> dict[str, Any]:
    alerts = lake.scan(names.ALERTS_TABLE).collect() if lake.exists(names.ALERTS_TABLE) else None
    mature = last - dt.timedelta(days=LABEL_MATURITY_DAYS)
    metrics = {name: daily_pr_auc(lake, d, mature) if d.kind == "classification"
               else daily_wape(lake, d) for name, d in domains.items()}
    summary: dict[str, Any] = {
        "days": (last - first).days + 1, "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "drift_injected_day": drift_day.isoformat() if drift_day else None,
        "metric_note": "classification: PR-AUC of each day's scores vs labels known at the "
                       f"end, days up to {mature} (the last {LABEL_MATURITY_DAYS} days' labels "
                       "are mostly still to come); forecast: WAPE of next-step p50 forecasts "
                       "(lower is better)",
        "domains": list(domains),
    }
    for domain, spec in domains.items():
        opened = [] if alerts is None else sorted(
            alerts.filter((pl.col("domain") == domain) & (pl.col("kind") == "drift_open"))
            ["episode"].str.slice(len(domain) + 1).to_list())
        opened_days = [dt.date.fromisoformat(d) for d in opened]
        detected = next((d for d in opened_days if drift_day and d >= drift_day), None)
        resolved = [] if alerts is None else sorted(
            alerts.filter((pl.col("domain") == domain) & (pl.col("kind") == "drift_resolved"))
            .select("episode", pl.col("title").str.extract(r"resolved on (\S+)$").alias("day"))
            .iter_rows())
        trained = [r for r in retrains.get(domain, []) if r["trigger"] == "drift"]
        first_retrain = next((dt.date.fromisoformat(r["day"]) for r in trained
                              if drift_day and dt.date.fromisoformat(r["day"]) >= drift_day),
                             None)
        daily = metrics[domain]
        before = [v for d, v in daily.items() if drift_day is None or d < drift_day]
        during = [v for d, v in daily.items() if drift_day and d >= drift_day
                  and (first_retrain is None or d <= first_retrain)]
        after = [v for d, v in daily.items() if first_retrain and d > first_retrain]
        summary[domain] = {
            "drift_detected_day": detected.isoformat() if detected else None,
            "detection_delay_days": (detected - drift_day).days if detected and drift_day
            else None,
            "alerts": len(opened_days),
            "episodes": [{"episode": f"{domain}-{d.isoformat()}", "opened": d.isoformat(),
                          "resolved": next((r for e, r in resolved
                                            if e == f"{domain}-{d.isoformat()}"), None)}
                         for d in opened_days],
            "false_alarms": sum(1 for d in opened_days if drift_day is None or d < drift_day),
            "retrains": trained,
            "champions": champions.get(domain, []),
            "metric": METRIC[spec.kind],
            "metric_before_drift": _mean(before),
            "metric_during_drift": _mean(during),
            "metric_after_retrain": _mean(after),
            "loss_recovered": _recovered(_mean(before), _mean(during), _mean(after),
                                         HIGHER_IS_BETTER[METRIC[spec.kind]]),
            "outcome": drift_note(METRIC[spec.kind], _mean(before), _mean(during),
                                  _mean(after), detected is not None),
            "daily_metric": {d.isoformat(): round(v, 4) for d, v in sorted(daily.items())},
        }
    return summary


def timeline_png(lake: Lake, summary: dict[str, Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    domains = summary["domains"]
    fig, axes = plt.subplots(len(domains), 1, figsize=(11, 3.3 * len(domains)), sharex=True,
                             squeeze=False)
    drift_day = summary["drift_injected_day"]
    for ax, domain in zip(axes[:, 0], domains, strict=True):
        table = names.drift_table(domain)
        if lake.exists(table):
            h = lake.scan(table).sort(PARTITION_COLUMN).collect()
            ax.plot(h[PARTITION_COLUMN], h["drift_share"], label="share of drifted columns",
                    color="C0")
            ax.plot(h[PARTITION_COLUMN], h["prediction_drift_score"], label="prediction drift",
                    color="C1")
        info = summary[domain]
        if drift_day:
            ax.axvline(dt.date.fromisoformat(drift_day), color="black", ls=":",
                       label="drift injected")
        for i, episode in enumerate(info["episodes"]):
            ax.axvline(dt.date.fromisoformat(episode["opened"]), color="red",
                       label=None if i else "alert: episode opened")
            if episode["resolved"]:
                ax.axvline(dt.date.fromisoformat(episode["resolved"]), color="purple",
                           ls="-.", label=None if i else "alert: resolved")
        for r in info["retrains"]:
            ax.axvline(dt.date.fromisoformat(r["day"]), color="green", ls="--",
                       label=f"retrain ({'promoted' if r.get('promoted') else 'kept'})")
        ax.set_ylabel("drift")
        m = ax.twinx()
        daily = info["daily_metric"]
        m.plot([dt.date.fromisoformat(d) for d in daily], list(daily.values()), color="grey",
               marker=".", lw=0.8)
        m.set_ylabel(info["metric"], color="grey")
        ax.set_title(f"{domain}: drift, alerts, retrains and realised {info['metric']}",
                     fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def report(settings: Settings, domains: dict[str, Domain], first: dt.date, last: dt.date,
           drift_day: dt.date | None, retrains: dict[str, list[dict]],
           champions: dict[str, list], failed: list[str]) -> int:
    """Print what the closed loop did and write its summary and timeline beside the lake;
    exit status 1 when a run failed."""
    lake = Lake(settings.lake_root, settings.s3)
    store = ObjectStore(settings.lake_root, settings.s3)
    print_summary(lake, data_tables(domains), first, last, failed)
    summary = build_summary(lake, domains, first, last, drift_day, retrains, champions)
    summary["failed"] = failed
    summary_uri = store.write_bytes(json.dumps(summary, indent=2, default=str).encode(),
                                    "reports", "demo_summary.json")
    plot_uri = store.write_bytes(timeline_png(lake, summary), "reports", "demo_timeline.png")
    print_loop(summary)
    print_models(ModelRegistry(store), domains)
    print(f"\nsummary: {summary_uri}\ntimeline: {plot_uri}")
    print(f"Dagster home: {settings.dagster_home}  (see the runs: make dev)")
    return 1 if failed else 0


def print_loop(summary: dict) -> None:
    print(f"\nclosed loop: {summary['days']} days, drift injected on "
          f"{summary['drift_injected_day'] or 'never'}")
    print(f"{'':8s} {'detected':>10s} {'delay':>5s} {'alerts':>6s} {'false':>5s} "
          f"{'retrains':>8s} {'metric':>12s} {'before':>7s} {'during':>7s} {'after':>7s} "
          f"{'recovered':>9s}")
    for domain in summary["domains"]:
        s = summary[domain]

        def fmt(v: object) -> str:
            return "-" if v is None else f"{v:.3f}"

        print(f"{domain:8s} {s['drift_detected_day'] or '-':>10s} "
              f"{'-' if s['detection_delay_days'] is None else s['detection_delay_days']:>5} "
              f"{s['alerts']:6d} {s['false_alarms']:5d} {len(s['retrains']):8d} "
              f"{s['metric']:>12s} {fmt(s['metric_before_drift']):>7s} "
              f"{fmt(s['metric_during_drift']):>7s} {fmt(s['metric_after_retrain']):>7s} "
              f"{'-' if s['loss_recovered'] is None else format(s['loss_recovered'], '.0%'):>9s}")
        print(f"{'':8s} champions: " + ", ".join(f"{v} from {d}" for d, v in s["champions"]))
        if summary["drift_injected_day"]:
            print(f"{'':8s} outcome: {s['outcome']}")
        print(f"{'':8s} episodes: " + (", ".join(
            f"{e['opened']} -> {e['resolved'] or 'still open'}" for e in s["episodes"])
            or "none"))


def print_summary(lake: Lake, tables: list[str], first: dt.date, last: dt.date,
                  failed: list[str]) -> None:
    print(f"\nlakeloop demo: {first} .. {last}")
    print(f"{'table':32s} {'days':>5s} {'rows':>10s} {'version':>8s}")
    for table in tables:
        counts = lake.partition_counts(table, first, last)
        version = lake.version(table)
        print(f"{table:32s} {len(counts):5d} {sum(counts.values()):10,d} "
              f"{'-' if version is None else version:>8}")
    print("failed: " + (", ".join(failed) if failed else "none"))


def print_models(registry: ModelRegistry, domains: dict[str, Domain]) -> None:
    print()
    print_versions(registry, {name: d.kind for name, d in domains.items()})
