"""Scoring assets: the champion model's scores for each day, written to gold Delta tables."""

import dagster as dg

from assets.metadata import table_metadata
from assets.partitions import partition_day
from resources import ComputeResource, LakeResource, RegistryResource

FRAUD_SCORES = "gold/fraud_scores"
DEMAND_FORECASTS = "gold/demand_forecasts"


def scoring_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        partitions_def=partitions,
        group_name="scoring",
        kinds={"delta", "pytorch"},
        deps=["transaction_features"],
        description=f"`{FRAUD_SCORES}`: calibrated fraud probability per transaction, scored "
        "with the champion; every row carries the model version.",
    )
    def fraud_scores(context: dg.AssetExecutionContext, lake: LakeResource,
                     registry: RegistryResource, compute: ComputeResource
                     ) -> dg.MaterializeResult:
        import polars as pl

        from lakeloop.models.fraud_lifecycle import MODEL_NAME, load_fraud_model

        day, storage, reg = partition_day(context), lake.lake(), registry.registry()
        champion = reg.champion(MODEL_NAME)
        if champion is None:
            context.log.warning("no fraud champion yet: nothing scored for this day")
            return dg.MaterializeResult(metadata={"scored": False, "reason": "no champion yet"})
        model = load_fraud_model(reg, champion)
        features = storage.scan("silver/transaction_features", day, day).collect()
        scores = model.score(features, compute.compute())
        keys = ["transaction_id", "ts", "card_id", "merchant_id", "date"]
        frame = features.select(keys).with_columns(
            pl.Series("fraud_score", scores, dtype=pl.Float64),
            pl.lit(champion.version).alias("model_version"),
        )
        version = storage.overwrite_partition(FRAUD_SCORES, frame, day)
        return dg.MaterializeResult(metadata={
            **table_metadata(storage.uri(FRAUD_SCORES), version, frame),
            "scored": True,
            "model_version": champion.version,
            "mean_score": float(frame["fraud_score"].mean() or 0.0),
            "alerts_at_0_5": int((frame["fraud_score"] >= 0.5).sum()),
        })

    @dg.asset(
        partitions_def=partitions,
        group_name="scoring",
        kinds={"delta", "pytorch"},
        deps=["demand_features"],
        description=f"`{DEMAND_FORECASTS}`: quantile forecasts (p10/p50/p90) for the next "
        "horizon days from each day, by the champion; series it does not know get a "
        "seasonal-naive forecast, marked in `method`.",
    )
    def demand_forecasts(context: dg.AssetExecutionContext, lake: LakeResource,
                         registry: RegistryResource, compute: ComputeResource
                         ) -> dg.MaterializeResult:
        import datetime as dt

        import polars as pl

        from lakeloop.calendar import from_time_index
        from lakeloop.models.demand import to_pandas
        from lakeloop.models.demand_lifecycle import (
            MODEL_NAME,
            forecast_with_fallback,
            load_demand_model,
        )

        day, storage, reg = partition_day(context), lake.lake(), registry.registry()
        champion = reg.champion(MODEL_NAME)
        if champion is None:
            context.log.warning("no demand champion yet: nothing forecast for this day")
            return dg.MaterializeResult(metadata={"scored": False, "reason": "no champion yet"})
        encoder = champion.meta["config"]["encoder_length"]
        history = to_pandas(storage.scan("silver/demand_features",
                                         day - dt.timedelta(days=encoder + 6), day).collect())
        model = load_demand_model(reg, champion, history)
        fc = forecast_with_fallback(model, history, compute.compute())
        frame = pl.from_pandas(fc).select(
            pl.lit(day).alias("date"),
            pl.col("series_id"),
            pl.col("time_idx").map_elements(from_time_index, return_dtype=pl.Date)
            .alias("target_date"),
            pl.col("horizon").cast(pl.Int32),
            pl.col("q0.1").alias("p10"), pl.col("q0.5").alias("p50"),
            pl.col("q0.9").alias("p90"),
            pl.col("method"),
            pl.lit(champion.version).alias("model_version"),
        ).sort("series_id", "horizon")
        version = storage.overwrite_partition(DEMAND_FORECASTS, frame, day)
        fallback = frame.filter(pl.col("method") != "nhits")["series_id"].n_unique()
        return dg.MaterializeResult(metadata={
            **table_metadata(storage.uri(DEMAND_FORECASTS), version, frame),
            "scored": True,
            "model_version": champion.version,
            "series": frame["series_id"].n_unique(),
            "fallback_series": fallback,
            "total_p50_next_day": float(frame.filter(pl.col("horizon") == 1)["p50"].sum()),
        })

    return [fraud_scores, demand_forecasts]
