"""Training assets for the demand forecaster: history with backtest cut-offs, then the model."""

import datetime as dt

import dagster as dg
from pydantic import Field

from assets.metadata import metrics_table
from assets.partitions import as_of_day
from lakeloop.storage import ObjectStore
from resources import ComputeResource, LakeResource, RegistryResource

DEMAND_FEATURES = "silver/demand_features"
DEMAND_TRAINING_TABLE = "training/demand"


class DemandTrainingSetConfig(dg.Config):
    as_of: str | None = Field(None, description="YYYY-MM-DD; default: the newest feature day")
    history_days: int = Field(365, description="days of history to train and backtest on")
    horizon: int = Field(14, description="forecast horizon in days")
    encoder_length: int = Field(28, description="days of history each forecast looks at")
    backtest_origins: int = Field(3, description="rolling origins, one horizon apart")


class DemandModelConfig(dg.Config):
    max_epochs: int = 15
    batch_size: int = 256
    hidden_size: int = 64
    lr: float = 3e-3
    patience: int = 3
    seed: int = 7
    promotion_margin: float = Field(0.01, description="MASE reduction needed vs champion")
    refit: bool = Field(True, description="a winning challenger is refitted on all history "
                        "(the backtest held the newest days out) before it is registered")


@dg.asset(
    group_name="training", kinds={"delta", "polars"}, deps=["demand_features"],
    description=f"`{DEMAND_TRAINING_TABLE}`: per-series daily history up to a day, with the "
    "rolling-origin backtest cut-offs; records the Delta version it read.",
)
def demand_training_set(context: dg.AssetExecutionContext, config: DemandTrainingSetConfig,
                        lake: LakeResource) -> dg.MaterializeResult:
    from lakeloop.calendar import time_index
    from lakeloop.models.demand_eval import BacktestPlan

    storage = lake.lake()
    as_of = as_of_day(config.as_of, storage, DEMAND_FEATURES)
    source_version = storage.version(DEMAND_FEATURES)
    first = as_of - dt.timedelta(days=config.history_days - 1)
    frame = storage.scan(DEMAND_FEATURES, first, as_of, version=source_version) \
        .sort("series_id", "date").collect()
    plan = BacktestPlan.for_history(time_index(as_of), config.horizon, config.backtest_origins)
    days = frame["date"].n_unique()
    need = config.encoder_length + config.horizon * (config.backtest_origins + 2)
    if days < need:
        raise dg.Failure(description=f"demand training set as of {as_of}: {days} days of "
                         f"history, need at least {need} for encoder {config.encoder_length}, "
                         f"horizon {config.horizon} and {config.backtest_origins} origins")
    lineage = {"as_of": as_of.isoformat(), "source_versions": {DEMAND_FEATURES: source_version},
               "horizon": config.horizon, "encoder_length": config.encoder_length,
               "origins": list(plan.origins), "val_from": plan.val_from}
    version = storage.overwrite(DEMAND_TRAINING_TABLE, frame, commit_metadata=lineage)
    context.log.info(f"demand training set as of {as_of}: {frame.height} rows, {days} days")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": frame.height, "delta_version": version, "as_of": as_of.isoformat(),
        "series": frame["series_id"].n_unique(), "days": days,
        "lineage": dg.MetadataValue.json(lineage),
    })


@dg.asset(
    group_name="training", kinds={"pytorch"}, deps=[demand_training_set],
    description="Train an N-HiTS challenger, backtest it against seasonal-naive, weekday-mean "
    "and the champion at the same origins, register it, promote it only if it wins (MASE).",
)
def demand_model(context: dg.AssetExecutionContext, config: DemandModelConfig,
                 lake: LakeResource, registry: RegistryResource, compute: ComputeResource
                 ) -> dg.MaterializeResult:
    from lakeloop.models.demand import DemandConfig, to_pandas
    from lakeloop.models.demand_eval import BacktestPlan
    from lakeloop.models.demand_lifecycle import plot_backtest, train_and_promote_demand

    storage = lake.lake()
    version = storage.version(DEMAND_TRAINING_TABLE)
    if version is None:
        raise dg.Failure(description="no demand training set: materialize demand_training_set")
    lineage = storage.commit_metadata(DEMAND_TRAINING_TABLE, version)
    pdf = to_pandas(storage.scan(DEMAND_TRAINING_TABLE, version=version).collect())
    plan = BacktestPlan(tuple(lineage["origins"]), lineage["val_from"])
    cfg = DemandConfig(horizon=lineage["horizon"], encoder_length=lineage["encoder_length"],
                       hidden_size=config.hidden_size, max_epochs=config.max_epochs,
                       batch_size=config.batch_size, lr=config.lr, patience=config.patience,
                       seed=config.seed)
    device = compute.compute()
    context.log.info(f"training demand model on {device.describe()}")
    run = train_and_promote_demand(pdf, plan, registry.registry(), device, cfg,
                                   config.promotion_margin,
                                   {**lineage, "table": DEMAND_TRAINING_TABLE, "version": version},
                                   log=context.log.info, refit=config.refit)
    png = plot_backtest(run.backtest, pdf)
    plot_uri = storage.uri(f"reports/demand/{run.version.version}_backtest.png")
    ObjectStore(storage.root, storage.s3).write_bytes(
        png, "reports", "demand", f"{run.version.version}_backtest.png")
    rows = {f"challenger {run.version.version}": run.metrics["nhits"],
            f"champion {run.champion_version}": run.champion_metrics,
            **{k: v for k, v in run.metrics.items() if k != "nhits"}}
    m = run.metrics["nhits"]
    return dg.MaterializeResult(metadata={
        "model_version": run.version.version,
        "promoted": run.decision.promote,
        "decision": run.decision.reason,
        "champion_before": run.champion_version or "none",
        "backtest_mase": m["mase"], "backtest_mae": m["mae"], "backtest_smape": m["smape"],
        "backtest_pinball": m["pinball"],
        "seasonal_naive_mase": run.metrics["seasonal_naive"]["mase"],
        "weekday_mean_mase": run.metrics["weekday_mean"]["mase"],
        "comparison": metrics_table(["mae", "smape", "mase", "pinball", "mase_p10",
                                     "mase_p50", "mase_p90"], rows),
        "per_series_mase": dg.MetadataValue.json(
            {k: m[k] for k in ("mase_p10", "mase_p50", "mase_p90")}),
        "forecast_plot": dg.MetadataValue.path(plot_uri),
        "epochs": run.result.epochs,
        "train_samples_per_s": run.result.samples_per_s,
        "device": device.describe(),
        "training_set_version": version,
    })
