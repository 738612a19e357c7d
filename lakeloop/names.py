"""Every name lakeloop gives: Delta tables, Dagster assets, checks, groups, jobs and sensors.

One home, so that the asset that writes a table, the monitor that reads it, the sensor that
watches it and the demo that reports on it cannot spell it differently. Names are per domain
(``fraud``, ``demand``, a team's own) or per dataset (a contract's ``name``); nothing here
knows a domain.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["classification", "forecast"]

# -- Delta tables (paths under the lake root) ------------------------------------------------
PARTITION_COLUMN = "date"  # every table's day: its Delta partition and the Dagster partition
SERIES_ID = "series_id"  # a forecast domain's series key in features, forecasts and models
ALERTS_TABLE = "alerts/log"
REPORTS = "reports"  # the folder beside the tables: Evidently JSON, plots, demo summaries


def bronze_table(dataset: str) -> str:
    return f"bronze/{dataset}"


def quarantine_table(dataset: str) -> str:
    return f"quarantine/{dataset}"


def features_table(domain: str) -> str:
    return f"silver/{domain}_features"


def predictions_table(domain: str, kind: Kind) -> str:
    return f"gold/{predictions_asset(domain, kind)}"


def training_table(domain: str) -> str:
    return f"training/{domain}"


def drift_table(domain: str) -> str:
    return f"monitoring/{domain}_drift"


def performance_table(domain: str) -> str:
    return f"monitoring/{domain}_performance"


def accuracy_table(domain: str) -> str:
    return f"monitoring/{domain}_accuracy"


# -- Dagster assets and checks -----------------------------------------------------------------
def ingest_asset(dataset: str) -> str:
    return f"{dataset}_raw"


def suite_check(dataset: str) -> str:
    return f"{dataset}_suite"


def features_asset(domain: str) -> str:
    return f"{domain}_features"


def predictions_asset(domain: str, kind: Kind) -> str:
    return f"{domain}_scores" if kind == "classification" else f"{domain}_forecasts"


def training_set_asset(domain: str) -> str:
    return f"{domain}_training_set"


def model_asset(domain: str) -> str:
    return f"{domain}_model"


def drift_asset(domain: str) -> str:
    return f"{domain}_drift"


def performance_asset(domain: str) -> str:
    return f"{domain}_performance"


def accuracy_asset(domain: str) -> str:
    return f"{domain}_accuracy"


def group(domain: str, stage: Literal["ingest", "features", "training", "scoring",
                                      "monitoring"]) -> str:
    return f"{domain}_{stage}"


# -- jobs and sensors ----------------------------------------------------------------------------
def nightly_job(domain: str) -> str:
    return f"nightly_{domain}"


def retrain_job(domain: str) -> str:
    return f"retrain_{domain}"


def drift_sensor(domain: str) -> str:
    return f"{domain}_drift_sensor"


RUN_FAILURE_SENSOR = "run_failure_alert"
ALERT_OUTBOX_SENSOR = "alert_outbox"


PROMOTION_CHECK = "promotion"  # the champion/challenger gate on every ``<domain>_model``
