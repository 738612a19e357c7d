"""The closed-loop demo's summary and timeline plot, computed from the lake after the run.

Daily model quality is measured retrospectively with what is known at the end of the demo:
fraud PR-AUC of each day's scores against the chargebacks reported by then, and the WAPE of
each day's next-day demand forecast against the units that landed the next day. The last
``FRAUD_MATURITY_DAYS`` days are left out of the fraud figures: most of their chargebacks have
not arrived by the end, so their PR-AUC would be understated for any model.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import Any

import polars as pl
from sklearn.metrics import average_precision_score

from lakeloop.storage import Lake

DOMAINS = ("fraud", "demand")
METRIC = {"fraud": "pr_auc", "demand": "wape_next_day"}
FRAUD_MATURITY_DAYS = 7  # the median chargeback delay


def daily_fraud_pr_auc(lake: Lake, until: dt.date) -> dict[dt.date, float]:
    if not lake.exists("gold/fraud_scores"):
        return {}
    labels = lake.scan("bronze/fraud_labels").select("transaction_id").unique() \
        .with_columns(pl.lit(1).alias("y"))
    scored = lake.scan("gold/fraud_scores", None, until) \
        .join(labels, on="transaction_id", how="left") \
        .with_columns(pl.col("y").fill_null(0)).collect()
    out = {}
    for (day,), g in scored.partition_by("date", as_dict=True).items():
        if 0 < g["y"].sum() < g.height:
            out[day] = float(average_precision_score(g["y"].to_numpy(),
                                                     g["fraud_score"].to_numpy()))
    return out


def daily_demand_wape(lake: Lake) -> dict[dt.date, float]:
    """Weighted absolute percentage error of next-day p50 forecasts (scale-free, so a level
    shift does not by itself look like a worse model)."""
    if not lake.exists("gold/demand_forecasts"):
        return {}
    fc = lake.scan("gold/demand_forecasts").filter(pl.col("horizon") == 1)
    actual = lake.scan("silver/demand_features").select(
        "series_id", pl.col("date").alias("target_date"), "units")
    err = fc.join(actual, on=["series_id", "target_date"], how="inner") \
        .group_by("date").agg(((pl.col("p50") - pl.col("units")).abs().sum()
                               / pl.col("units").sum()).alias("wape")).collect()
    return dict(zip(err["date"].to_list(), err["wape"].to_list(), strict=True))


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return round(sum(values) / len(values), 4) if values else None


def build_summary(lake: Lake, first: dt.date, last: dt.date, drift_day: dt.date | None,
                  retrains: dict[str, list[dict[str, Any]]], champions: dict[str, list]
                  ) -> dict[str, Any]:
    alerts = lake.scan("alerts/log").collect() if lake.exists("alerts/log") else None
    mature = last - dt.timedelta(days=FRAUD_MATURITY_DAYS)
    metrics = {"fraud": daily_fraud_pr_auc(lake, mature), "demand": daily_demand_wape(lake)}
    summary: dict[str, Any] = {
        "days": (last - first).days + 1, "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "drift_injected_day": drift_day.isoformat() if drift_day else None,
        "metric_note": "fraud: PR-AUC of each day's scores vs chargebacks known at the end, "
                       f"days up to {mature} (the last {FRAUD_MATURITY_DAYS} days' labels are "
                       "mostly still to come); demand: WAPE of next-day p50 forecasts "
                       "(lower is better)",
    }
    for domain in DOMAINS:
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
            "metric": METRIC[domain],
            "metric_before_drift": _mean(before),
            "metric_during_drift": _mean(during),
            "metric_after_retrain": _mean(after),
            "daily_metric": {d.isoformat(): round(v, 4) for d, v in sorted(daily.items())},
        }
    return summary


def timeline_png(lake: Lake, summary: dict[str, Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    drift_day = summary["drift_injected_day"]
    for ax, domain in zip(axes, DOMAINS, strict=True):
        table = f"monitoring/{domain}_drift"
        if lake.exists(table):
            h = lake.scan(table).sort("date").collect()
            ax.plot(h["date"], h["drift_share"], label="share of drifted columns", color="C0")
            ax.plot(h["date"], h["prediction_drift_score"], label="prediction drift",
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
