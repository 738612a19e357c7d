"""Scoring assets: the champion model's scores for each day, written to gold Delta tables."""

import dagster as dg

from assets.metadata import table_metadata
from assets.partitions import partition_day
from resources import ComputeResource, LakeResource, RegistryResource

FRAUD_SCORES = "gold/fraud_scores"


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

    return [fraud_scores]
