"""Training assets: the point-in-time fraud training set and the fraud model (train, evaluate,
register, champion/challenger decision)."""

import datetime as dt

import dagster as dg
import polars as pl
from pydantic import Field

from assets.metadata import metrics_table, preview
from assets.partitions import as_of_day
from resources import ComputeResource, ContractsResource, LakeResource, RegistryResource

FRAUD_TRAINING_TABLE = "training/fraud"
FRAUD_TABLE_KEYS = ["pr_auc", "roc_auc", "recall_at_1pct", "recall_at_5pct",
                    "precision_at_50pct_recall"]


class FraudTrainingSetConfig(dg.Config):
    as_of: str | None = Field(None, description="YYYY-MM-DD; default: the newest feature day")
    window_days: int = Field(28, description="days of matured transactions to train on")
    label_window_days: int = Field(30, description="days after which a label counts as final")
    val_days: int = Field(4, description="newest days before the test window, for validation")
    test_days: int = Field(5, description="newest matured days, held out for testing")


class FraudModelConfig(dg.Config):
    max_epochs: int = 30
    batch_size: int = 1024
    lr: float = 3e-3
    patience: int = 4
    seed: int = 7
    promotion_margin: float = Field(0.005, description="PR-AUC gain needed to replace champion")


@dg.asset(
    group_name="training",
    kinds={"delta", "polars"},
    deps=["transaction_features", "fraud_labels_raw"],
    description=f"`{FRAUD_TRAINING_TABLE}`: matured transactions with labels known as of a day, "
    "split by date into train / validation / test; records the Delta versions it read.",
)
def fraud_training_set(context: dg.AssetExecutionContext, config: FraudTrainingSetConfig,
                       lake: LakeResource) -> dg.MaterializeResult:
    from lakeloop.training_sets import FRAUD_FEATURES, FraudWindow, fraud_training_set

    storage = lake.lake()
    as_of = as_of_day(config.as_of, storage, FRAUD_FEATURES)
    window = FraudWindow(config.window_days, config.label_window_days, config.val_days,
                         config.test_days)
    try:
        ts = fraud_training_set(storage, as_of, window)
    except ValueError as exc:
        raise dg.Failure(description=str(exc)) from exc
    version = storage.overwrite(FRAUD_TRAINING_TABLE, ts.frame, commit_metadata=ts.lineage())
    splits = ts.frame.group_by("split").agg(pl.len().alias("rows"),
                                            pl.col("is_fraud").sum().alias("fraud"),
                                            pl.col("date").min().alias("first"),
                                            pl.col("date").max().alias("last")).sort("first")
    context.log.info(f"fraud training set as of {as_of}: {ts.frame.height} rows")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": ts.frame.height,
        "delta_version": version,
        "as_of": as_of.isoformat(),
        "source_versions": dg.MetadataValue.json(ts.source_versions),
        "fraud_rate": float(ts.frame["is_fraud"].mean()),
        "splits": preview(splits, rows=3),
    })


@dg.asset(
    group_name="training",
    kinds={"pytorch"},
    deps=[fraud_training_set],
    description="Train a fraud challenger on the newest training set, evaluate it against "
    "logistic regression, boosted trees and the champion on the same test window, register it, "
    "promote it only if it wins.",
)
def fraud_model(context: dg.AssetExecutionContext, config: FraudModelConfig, lake: LakeResource,
                registry: RegistryResource, compute: ComputeResource,
                contracts: ContractsResource) -> dg.MaterializeResult:
    from lakeloop.models.fraud import FraudConfig
    from lakeloop.models.fraud_lifecycle import train_and_promote
    from lakeloop.training_sets import FraudWindow, TrainingSet

    storage = lake.lake()
    version = storage.version(FRAUD_TRAINING_TABLE)
    if version is None:
        raise dg.Failure(description="no fraud training set yet: materialize fraud_training_set")
    lineage = storage.commit_metadata(FRAUD_TRAINING_TABLE, version)
    frame = storage.scan(FRAUD_TRAINING_TABLE, version=version).collect()
    ts = TrainingSet(frame, dt.date.fromisoformat(lineage["as_of"]),
                     FraudWindow(**lineage["window"]), lineage["source_versions"])
    device = compute.compute()
    context.log.info(f"training fraud model on {device.describe()}")
    run = train_and_promote(
        ts, registry.registry(), device, contracts.get("transactions").with_role("categorical"),
        FraudConfig(max_epochs=config.max_epochs, batch_size=config.batch_size, lr=config.lr,
                    patience=config.patience, seed=config.seed),
        config.promotion_margin, {**lineage, "table": FRAUD_TRAINING_TABLE, "version": version},
        log=context.log.info,
    )
    m = run.test_metrics
    return dg.MaterializeResult(metadata={
        "model_version": run.version.version,
        "promoted": run.decision.promote,
        "decision": run.decision.reason,
        "champion_before": run.champion_version or "none",
        "test_pr_auc": m["pr_auc"],
        "test_roc_auc": m["roc_auc"],
        "test_recall_at_1pct": m["recall_at_1pct"],
        "test_recall_at_5pct": m["recall_at_5pct"],
        "baseline_logreg_pr_auc": run.baselines["logistic_regression"]["pr_auc"],
        "baseline_gbt_pr_auc": run.baselines["gradient_boosting"]["pr_auc"],
        "comparison": metrics_table(FRAUD_TABLE_KEYS, {
            f"challenger {run.version.version}": m,
            f"champion {run.champion_version}": run.champion_metrics,
            **run.baselines,
        }),
        "epochs": run.result.epochs,
        "train_samples_per_s": run.result.samples_per_s,
        "device": device.describe(),
        "training_set_version": version,
    })
