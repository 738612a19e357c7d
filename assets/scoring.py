"""Scoring assets: the champion model's predictions for each day, written to gold Delta tables."""

from collections.abc import Iterator

import dagster as dg

from assets.metadata import not_materialized, refused, step_asset, table_metadata
from assets.partitions import partition_day
from lakeloop import names
from lakeloop.contracts.domains import Domain
from lakeloop.names import PARTITION_COLUMN, SERIES_ID
from resources import ComputeResource, LakeResource, RegistryResource

SCORE = "score"


def score_asset(domain: Domain, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @step_asset(
        name=domain.predictions_asset, partitions_def=partitions,
        group_name=names.group(domain.name, "scoring"), kinds={"delta", "pytorch"},
        deps=[domain.features_asset],
        output_required=False,  # before any champion exists nothing is scored, nothing green
        description=f"`{domain.predictions_table}`: calibrated probability per event, scored "
        "with the champion (whichever family serves: network or boosted trees); every row "
        "carries its keys and the model version. Before any model exists the "
        "partition stays unmaterialized (an observation says why).",
    )
    def _scores(context: dg.AssetExecutionContext, lake: LakeResource,
                registry: RegistryResource, compute: ComputeResource
                ) -> Iterator[dg.MaterializeResult | dg.AssetObservation]:
        import polars as pl

        from lakeloop.features.events import key_columns
        from lakeloop.models.classification.lifecycle import load_classifier
        from lakeloop.models.classification.smoke import ModelUnusable, ensure_loadable

        day, storage, reg = partition_day(context), lake.lake(), registry.registry()
        champion = reg.champion(domain.name)
        if champion is None:
            yield not_materialized(
                context, f"no {domain.name} champion yet: nothing scored for {day}", "scored")
            return
        features = storage.scan(domain.features_table, day, day).collect()
        try:  # in a child process first: a malformed file must not abort this one
            ensure_loadable(reg, champion, features)
        except ModelUnusable as exc:
            raise refused(str(exc)) from exc
        model = load_classifier(reg, champion)
        scores = model.score(features, compute.compute())
        keys = key_columns(domain.main)  # all of them, features or not (card1 in both)
        frame = features.select(keys).with_columns(
            pl.Series(SCORE, scores, dtype=pl.Float64),
            pl.lit(champion.version).alias("model_version"),
        )
        version = storage.overwrite_partition(domain.predictions_table, frame, day)
        yield dg.MaterializeResult(metadata={
            **table_metadata(storage.uri(domain.predictions_table), version, frame),
            "scored": True,
            "model_version": champion.version,
            "model_family": champion.family,
            "mean_score": round(float(frame[SCORE].mean() or 0.0), 5),
            "alerts_at_0_5": int((frame[SCORE] >= 0.5).sum()),
        })

    return _scores


def forecast_asset(domain: Domain, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @step_asset(
        name=domain.predictions_asset, partitions_def=partitions,
        group_name=names.group(domain.name, "scoring"), kinds={"delta", "pytorch"},
        deps=[domain.features_asset],
        output_required=False,  # before any champion exists nothing is forecast, nothing green
        description=f"`{domain.predictions_table}`: quantile forecasts (p10/p50/p90) for the "
        "next horizon open days from each day, by the champion, whichever family serves (the "
        "N-HiTS network or a baseline rule); series it cannot forecast (new, or too little "
        "history) get a stated fallback, marked in `method`. Before any model exists the "
        "partition stays unmaterialized (an observation says why).",
    )
    def _forecasts(context: dg.AssetExecutionContext, lake: LakeResource,
                   registry: RegistryResource, compute: ComputeResource
                   ) -> Iterator[dg.MaterializeResult | dg.AssetObservation]:
        import polars as pl

        from lakeloop.contracts.calendar import BusinessCalendar
        from lakeloop.features.series import reindex_open_days
        from lakeloop.models.forecast.lifecycle import (
            demand_family,
            forecast_with_fallback,
            from_day,
            history_open_days,
            load_demand_model,
        )
        from lakeloop.models.forecast.nhits import to_pandas

        day, storage, reg = partition_day(context), lake.lake(), registry.registry()
        champion = reg.champion(domain.name)
        if champion is None:
            yield not_materialized(
                context, f"no {domain.name} champion yet: nothing forecast for {day}", "scored")
            return
        calendar = BusinessCalendar(domain.calendar)
        family = demand_family(champion)
        first = calendar.shift(day, -history_open_days(champion))  # what the model reads
        history = to_pandas(reindex_open_days(
            storage.scan(domain.features_table, first, day).collect(), calendar),
                            domain.main.roles.known)
        model = load_demand_model(reg, champion, history)
        issued = forecast_with_fallback(model, history, compute.compute(), calendar)
        fc = from_day(issued, day, calendar)  # only days after this one, horizons from it
        frame = pl.from_pandas(fc).select(
            pl.lit(day).alias(PARTITION_COLUMN),
            pl.col(SERIES_ID),
            pl.col("target_date").cast(pl.Date),
            pl.col("horizon").cast(pl.Int32),
            pl.col("q0.1").alias("p10"), pl.col("q0.5").alias("p50"),
            pl.col("q0.9").alias("p90"),
            pl.col("method"),
            pl.lit(champion.version).alias("model_version"),
        ).sort(SERIES_ID, "horizon")
        version = storage.overwrite_partition(domain.predictions_table, frame, day)
        fallback = frame.filter(pl.col("method") != family)[SERIES_ID].n_unique()
        yield dg.MaterializeResult(metadata={
            **table_metadata(storage.uri(domain.predictions_table), version, frame),
            "scored": True,
            "model_version": champion.version,
            "model_family": family,
            "series": frame[SERIES_ID].n_unique(),
            "fallback_series": fallback,
            # series whose newest row is older than the day: their steps on or before it
            "steps_not_after_day": len(issued) - len(fc),
            "history_from": first.isoformat(),
            "total_p50_next_day": round(float(frame.filter(pl.col("horizon") == 1)["p50"].sum()),
                                        2),
        })

    return _forecasts


def scoring_assets(domain: Domain, partitions: dg.PartitionsDefinition
                   ) -> list[dg.AssetsDefinition]:
    build = score_asset if domain.kind == "classification" else forecast_asset
    return [build(domain, partitions)]
