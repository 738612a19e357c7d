"""Training assets for the demand forecaster: history with backtest cut-offs, then the model."""

import datetime as dt
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from assets.k8s_tags import GPU_TRAINING_TAGS
from assets.metadata import (
    metrics_table,
    promotion_check,
    promotion_result,
    refused,
    step_asset,
)
from assets.partitions import as_of_day, newest_training_set
from lakeloop import names
from lakeloop.contracts.domains import Domain
from lakeloop.names import PARTITION_COLUMN, SERIES_ID
from lakeloop.storage import ObjectStore
from resources import ComputeResource, LakeResource, RegistryResource

if TYPE_CHECKING:
    import polars as pl

    from lakeloop.models.forecast.backtest import BacktestPlan


class ForecastTrainingSetConfig(dg.Config):
    as_of: str | None = Field(None, description="YYYY-MM-DD; default: the newest feature day")
    history_days: int = Field(365, description="calendar days of history to train and "
                              "backtest on")
    horizon: int = Field(14, description="forecast horizon in open days")
    encoder_length: int = Field(28, description="open days of history each forecast looks at")
    backtest_origins: int = Field(3, description="rolling origins, one horizon apart")
    backtest_start: str | None = Field(None, description="explicit split: first day the "
                                       "backtest scores (with backtest_end; replaces the "
                                       "rolling origins)")
    backtest_end: str | None = Field(None, description="explicit split: last day scored")
    val_start: str | None = Field(None, description="explicit split: first validation day "
                                  "(early stopping; default: the horizon before "
                                  "backtest_start); days between validation and backtest are "
                                  "a gap")


class ForecastModelConfig(dg.Config):
    max_epochs: int = 15
    batch_size: int = 256
    hidden_size: int = 64
    lr: float = 3e-3
    patience: int = 3
    seed: int = 7
    promotion_margin: float = Field(0.01, description="MASE reduction needed vs champion")
    moving_average_days: int = Field(28, description="the moving-average baseline's window "
                                     "(open days)")
    intermittent_share: float = Field(0.5, description="a series zero on at least this share "
                                      "of its recent days gets a median (point) forecast of 0 "
                                      "from the baselines")
    refit: bool = Field(True, description="a winning challenger is refitted on all history "
                        "(the backtest held the newest days out) before it is registered")
    window_workers: int = Field(0, ge=0, description="processes that build the training "
                                "windows, once a training (0: the step's own process). On a "
                                "machine with cores to spare (a GPU machine), 8 cut the build "
                                "from 37 s to 4.5 s on 60k windows (docs/performance.md)")


def _plan(frame: "pl.DataFrame", config: ForecastTrainingSetConfig) -> "BacktestPlan":
    """Rolling origins ending at the newest day, or the explicit date ranges (mapped to the
    open-day index ``t`` of the days in the set)."""
    import polars as pl

    from lakeloop.models.forecast.backtest import BacktestPlan

    if config.backtest_start is None and config.backtest_end is None:
        return BacktestPlan.for_history(int(frame["t"].max()), config.horizon,
                                        config.backtest_origins)
    if config.backtest_start is None or config.backtest_end is None:
        raise ValueError("explicit split: give both backtest_start and backtest_end")
    days = frame.select(PARTITION_COLUMN, "t").unique()

    def t_of(text: str, first: bool) -> int:
        day = dt.date.fromisoformat(text)
        when = pl.col(PARTITION_COLUMN)
        hit = days.filter(when >= day if first else when <= day)
        if hit.is_empty():
            raise ValueError(f"explicit split: no open day with data "
                             f"{'on or after' if first else 'on or before'} {text}")
        return int(hit["t"].min() if first else hit["t"].max())

    val_from = None if config.val_start is None else t_of(config.val_start, True)
    plan = BacktestPlan.explicit(t_of(config.backtest_start, True),
                                 t_of(config.backtest_end, False), config.horizon, val_from)
    history = plan.val_from - int(frame["t"].min())
    if history < config.encoder_length + config.horizon:
        raise ValueError(f"explicit split: {history} open days before validation; the model "
                         f"needs at least {config.encoder_length + config.horizon} (encoder "
                         f"{config.encoder_length} + horizon {config.horizon}) to fit on")
    return plan


def forecast_training_assets(domain: Domain) -> list[dg.AssetsDefinition]:
    table = names.training_table(domain.name)

    @step_asset(
        name=names.training_set_asset(domain.name), group_name=names.group(domain.name, "training"),
        kinds={"delta", "polars"}, deps=[domain.features_asset],
        description=f"`{table}`: per-series history up to a day (open days), with the "
        "rolling-origin backtest cut-offs; records the Delta version it read.",
    )
    def _training_set(context: dg.AssetExecutionContext, config: ForecastTrainingSetConfig,
                      lake: LakeResource) -> dg.MaterializeResult:
        import polars as pl

        from lakeloop.contracts.calendar import BusinessCalendar
        from lakeloop.features.series import reindex_open_days

        storage = lake.lake()
        as_of = as_of_day(config.as_of, storage, domain.features_table)
        source_version = storage.version(domain.features_table)
        first = as_of - dt.timedelta(days=config.history_days - 1)
        frame = storage.scan(domain.features_table, first, as_of, version=source_version) \
            .sort(SERIES_ID, PARTITION_COLUMN).collect()
        frame = reindex_open_days(frame, BusinessCalendar(domain.calendar))
        periods = frame["t"].n_unique()
        need = config.encoder_length + config.horizon * (config.backtest_origins + 2)
        if config.backtest_start is None and periods < need:
            raise refused(f"{domain.name} training set as of {as_of}: {periods} "
                             f"open days of history, need at least {need} for encoder "
                             f"{config.encoder_length}, horizon {config.horizon} and "
                             f"{config.backtest_origins} origins")
        try:
            plan = _plan(frame, config)
        except ValueError as exc:
            raise refused(f"{domain.name} training set as of {as_of}: {exc}"
                             ) from exc
        lineage = {"as_of": as_of.isoformat(),
                   "source_versions": {domain.features_table: source_version},
                   "horizon": config.horizon, "encoder_length": config.encoder_length,
                   "origins": list(plan.origins), "val_from": plan.val_from}
        version = storage.overwrite(table, frame, commit_metadata=lineage)
        context.log.info(f"{domain.name} training set as of {as_of}: {frame.height} rows, "
                         f"{periods} open days")
        return dg.MaterializeResult(metadata={
            "dagster/row_count": frame.height, "delta_version": version,
            "as_of": as_of.isoformat(), "series": frame[SERIES_ID].n_unique(),
            "open_days": periods,
            "first_day": str(frame.select(pl.col(PARTITION_COLUMN).min()).item()),
            "lineage": dg.MetadataValue.json(lineage),
        })

    @step_asset(
        name=names.model_asset(domain.name), group_name=names.group(domain.name, "training"),
        kinds={"pytorch"},
        deps=[_training_set], op_tags=GPU_TRAINING_TAGS,
        check_specs=[promotion_check(names.model_asset(domain.name))],
        description="Train an N-HiTS network, backtest it with the baseline rules "
        "(seasonal naive, weekday mean, moving average) and the champion at the same origins "
        "(open days); the candidate with the lowest MASE - network or rule - is registered as "
        "the challenger and promoted if it beats the champion by the margin (the first one "
        "always serves). The metadata says which family serves and why.",
    )
    def _model(context: dg.AssetExecutionContext, config: ForecastModelConfig,
               lake: LakeResource, registry: RegistryResource, compute: ComputeResource
               ) -> dg.MaterializeResult:
        from lakeloop.contracts.calendar import BusinessCalendar
        from lakeloop.models.forecast.backtest import BacktestPlan
        from lakeloop.models.forecast.lifecycle import (
            demand_family,
            plot_backtest,
            train_and_promote_demand,
        )
        from lakeloop.models.forecast.nhits import DemandConfig, to_pandas
        from lakeloop.registry.describe import serving_reason

        storage = lake.lake()
        version, lineage, frame = newest_training_set(storage, table,
                                                      names.training_set_asset(domain.name))
        pdf = to_pandas(frame, domain.main.roles.known)
        plan = BacktestPlan(tuple(lineage["origins"]), lineage["val_from"])
        cfg = DemandConfig(horizon=lineage["horizon"], encoder_length=lineage["encoder_length"],
                           hidden_size=config.hidden_size, max_epochs=config.max_epochs,
                           batch_size=config.batch_size, lr=config.lr, patience=config.patience,
                           seed=config.seed,
                           season=BusinessCalendar(domain.calendar).periods_per_week,
                           moving_average_days=config.moving_average_days,
                           intermittent_share=config.intermittent_share,
                           num_workers=config.window_workers)
        device = compute.compute()
        context.log.info(f"training {domain.name} model on {device.describe()}")
        run = train_and_promote_demand(pdf, plan, registry.registry(), device, cfg,
                                       config.promotion_margin,
                                       {**lineage, "table": table, "version": version},
                                       log=context.log.info, refit=config.refit,
                                       model_name=domain.name)
        png = plot_backtest(run.backtest, pdf)
        name = f"{run.version.version}_backtest.png"
        plot_uri = ObjectStore(storage.root, storage.s3).write_bytes(
            png, "reports", domain.name, name)
        rows = {**{(f"{k} (challenger {run.version.version})" if k == run.family else k): v
                   for k, v in run.metrics.items()},
                f"champion {run.champion_version}": run.champion_metrics}
        m = run.metrics[run.family]
        serving = registry.registry().champion(domain.name)
        serving_family = None if serving is None else demand_family(serving)
        return dg.MaterializeResult(check_results=[promotion_result(
            run.decision, run.version.version, run.champion_version)], metadata={
            "model_version": run.version.version,
            "family": run.family,
            "family_reason": run.family_reason,
            "promoted": run.decision.promote,
            "decision": run.decision.reason,
            "champion_before": run.champion_version or "none",
            "serving": "none" if serving is None else f"{serving.version} ({serving_family})",
            "serving_reason": serving_reason(registry.registry(), domain.name),
            **{f"backtest_{k}": round(m[k], 4) for k in ("mase", "mae", "smape", "wape",
                                                         "pinball")},
            **{f"{b}_mase": round(v["mase"], 4) for b, v in run.metrics.items()},
            "comparison": metrics_table(["mae", "smape", "wape", "mase", "pinball", "mase_p10",
                                         "mase_p50", "mase_p90"], rows),
            "season_open_days": cfg.season,
            "forecast_plot": dg.MetadataValue.path(plot_uri),
            "epochs": run.result.epochs,
            "train_samples_per_s": round(run.result.samples_per_s, 1),
            "torch_device": device.describe(),
            "training_set_version": version,
        })

    return [_training_set, _model]
