"""Training assets of a classification domain (fraud): the point-in-time training set and the
model (train, evaluate, register, champion/challenger decision). Inputs come from the contract."""

import datetime as dt

import dagster as dg
import polars as pl
from pydantic import Field

from assets.k8s_tags import GPU_TRAINING_TAGS
from assets.metadata import (
    metrics_table,
    preview,
    promotion_check,
    promotion_result,
    refused,
    step_asset,
)
from assets.partitions import as_of_day, newest_training_set
from lakeloop import names
from lakeloop.contracts.domains import Domain
from lakeloop.models.classification.config import TabMConfig
from lakeloop.names import PARTITION_COLUMN
from lakeloop.training.split import SplitWindow
from lakeloop.training.training_sets import MIN_TEST_POSITIVES
from resources import ComputeResource, LakeResource, RegistryResource

SPLIT = SplitWindow()  # the rolling split's defaults live in one place
NET = TabMConfig()  # ... and the network's

TABLE_KEYS = ["pr_auc", "roc_auc", "recall_at_1pct", "recall_at_5pct",
              "precision_at_50pct_recall"]


def _interval(iv: dict[str, float] | None) -> str:
    if not iv or iv["low"] != iv["low"]:  # none, or NaN (no positives)
        return "n/a"
    return f"[{iv['low']:.4f}, {iv['high']:.4f}] ({iv['level']:.0%} bootstrap)"


def top_inputs(values: dict[str, float], n: int = 10) -> dg.MarkdownMetadataValue:
    """The ``n`` inputs the model relies on most, as a markdown table (weights sum to 1 over
    every input): what the drift monitor weights a column's drift by."""
    from lakeloop.models.classification.importance import top

    lines = ["| input | weight |", "|---|---|"]
    lines += [f"| {c} | {w:.4f} |" for c, w in top(values, n)]
    return dg.MetadataValue.md("\n".join(lines))


class ClassificationTrainingSetConfig(dg.Config):
    as_of: str | None = Field(None, description="YYYY-MM-DD; default: the newest feature day")
    window_days: int = Field(SPLIT.window_days,
                             description="days of matured events to train on (rolling)")
    label_window_days: int | None = Field(
        None, description="days after which a label counts as final; default: the contract's "
        "label maturity, or LAKELOOP_LABEL_WINDOW_DAYS for reported labels")
    val_days: int = Field(SPLIT.val_days, description="days before the test window, for "
                          "validation")
    test_days: int = Field(SPLIT.test_days, description="newest matured days, held out for "
                           "testing (at least; see min_test_positives)")
    gap_days: int = Field(0, description="days left out between validation and test")
    train_start: str | None = Field(None, description="explicit split: first training day")
    train_end: str | None = None
    val_start: str | None = None
    val_end: str | None = None
    test_start: str | None = Field(None, description="explicit split: first test day (set all "
                                   "six dates to use explicit ranges instead of rolling)")
    test_end: str | None = None
    min_test_positives: int = Field(
        MIN_TEST_POSITIVES, description="rolling split: the test window grows back (open "
        "days) until it holds this many known positives; a champion is never replaced on fewer")


class ClassificationModelConfig(dg.Config):
    max_epochs: int = Field(NET.max_epochs, description="torch network: at most this many "
                            "epochs (early stopping on validation PR-AUC)")
    epoch_rows: int = Field(NET.epoch_rows, description="torch network: rows an epoch sees "
                            "at most (every positive, a fresh sample of negatives; 0: all)")
    batch_size: int = NET.batch_size
    lr: float = NET.lr
    patience: int = NET.patience
    ensemble_size: int = Field(NET.k, description="TabM members trained as one network")
    choose_embedding_below: int = Field(
        NET.choose_embedding_below, description="torch network: with fewer training "
        "positives, train it with each numeric embedding and keep the best on validation "
        "(0: never)")
    seed: int = NET.seed
    families: list[str] = Field(["torch", "lightgbm"], description="candidate model families "
                                "(the one with the best validation PR-AUC is the challenger)")
    promotion_margin: float = Field(0.005, description="PR-AUC gain needed to replace champion")
    bootstrap_resamples: int = Field(200, description="paired bootstrap resamples of the test "
                                     "window; the win must hold at the 90% interval's low end")
    time_budget_s: float | None = Field(None, description="per family: after this many "
                                        "seconds of training keep the best epoch or round so "
                                        "far (None: no budget)")


def classification_training_assets(domain: Domain, default_label_window: int
                                   ) -> list[dg.AssetsDefinition]:
    table = names.training_table(domain.name)
    label = domain.main.roles.label
    assert label is not None
    label_window = label.maturity_days if label.column else default_label_window
    label_deps = [names.ingest_asset(domain.labels.name)] if domain.labels else []

    @step_asset(
        name=names.training_set_asset(domain.name), group_name=names.group(domain.name, "training"),
        kinds={"delta", "polars"}, deps=[domain.features_asset, *label_deps],
        description=f"`{table}`: matured events with labels known as of a day, split by date "
        "into train / validation / test (rolling or explicit ranges, optional gap); records "
        "the Delta versions it read.",
    )
    def _training_set(context: dg.AssetExecutionContext, config: ClassificationTrainingSetConfig,
                      lake: LakeResource) -> dg.MaterializeResult:
        from lakeloop.training.split import SplitWindow
        from lakeloop.training.training_sets import LABEL, classification_training_set

        storage = lake.lake()
        as_of = as_of_day(config.as_of, storage, domain.features_table)
        chosen = label_window if config.label_window_days is None \
            else config.label_window_days
        if label.column and chosen < (label.maturity_days or 0):
            raise refused(f"label_window_days {chosen} is shorter than the "
                             f"label column's maturity ({label.maturity_days} days in contract "
                             f"{domain.main.name}): newer events would all look negative")
        window = SplitWindow(**{**config.model_dump(exclude={"as_of"}),
                                "label_window_days": chosen})
        try:
            ts = classification_training_set(storage, domain, as_of, window)
        except ValueError as exc:
            raise refused(str(exc)) from exc
        version = storage.overwrite(table, ts.frame, commit_metadata=ts.lineage())
        splits = ts.frame.group_by("split").agg(pl.len().alias("rows"),
                                                pl.col(LABEL).sum().alias("positives"),
                                                pl.col(PARTITION_COLUMN).min().alias("first"),
                                                pl.col(PARTITION_COLUMN).max().alias("last")).sort("first")
        context.log.info(f"{domain.name} training set as of {as_of}: {ts.frame.height} rows")
        return dg.MaterializeResult(metadata={
            "dagster/row_count": ts.frame.height, "delta_version": version,
            "as_of": as_of.isoformat(),
            "source_versions": dg.MetadataValue.json(ts.source_versions),
            "positive_rate": round(float(ts.frame[LABEL].mean()), 5),
            "splits": preview(splits, rows=3),
        })

    @step_asset(
        name=names.model_asset(domain.name), group_name=names.group(domain.name, "training"),
        kinds={"pytorch", "lightgbm"}, deps=[_training_set], op_tags=GPU_TRAINING_TAGS,
        check_specs=[promotion_check(names.model_asset(domain.name))],
        description="Train the candidates (torch TabM network on piecewise-linear numeric "
        "embeddings, LightGBM trees) on the newest training set; the best on validation is "
        "the challenger. Judge it against the champion on the same test window (paired "
        "bootstrap interval, minimum positives), register it in its own safe format, "
        "promote it only if it wins beyond the noise. The first model always serves.",
    )
    def _model(context: dg.AssetExecutionContext, config: ClassificationModelConfig,
               lake: LakeResource, registry: RegistryResource, compute: ComputeResource
               ) -> dg.MaterializeResult:
        from lakeloop.features import event_schema
        from lakeloop.models.classification.lifecycle import FAMILIES, train_and_promote
        from lakeloop.models.classification.trees import TreeConfig
        from lakeloop.training.split import SplitWindow
        from lakeloop.training.training_sets import TrainingSet

        storage = lake.lake()
        version, lineage, frame = newest_training_set(storage, table,
                                                      names.training_set_asset(domain.name))
        ts = TrainingSet(frame, dt.date.fromisoformat(lineage["as_of"]),
                         SplitWindow(**lineage["window"]), lineage["source_versions"])
        schema = event_schema(domain.main, frame.drop("split", "label").schema)
        device = compute.compute()
        context.log.info(f"training {domain.name} model on {device.describe()}: "
                         f"{len(schema.categorical)} categorical, {len(schema.numeric)} numeric")
        unknown = sorted(set(config.families) - set(FAMILIES))
        if unknown or not config.families:
            raise refused(f"families {config.families}: choose from {FAMILIES}")
        reg = registry.registry()
        run = train_and_promote(
            ts, reg, device, schema.categorical, schema.numeric,
            TabMConfig(max_epochs=config.max_epochs, epoch_rows=config.epoch_rows,
                       batch_size=config.batch_size, lr=config.lr, patience=config.patience,
                       k=config.ensemble_size, seed=config.seed,
                       choose_embedding_below=config.choose_embedding_below,
                       time_budget_s=config.time_budget_s),
            config.promotion_margin, {**lineage, "table": table, "version": version},
            log=context.log.info, model_name=domain.name, families=tuple(config.families),
            trees=TreeConfig(seed=config.seed, time_budget_s=config.time_budget_s),
            min_test_positives=ts.window.min_test_positives,
            resamples=config.bootstrap_resamples,
        )
        m, d = run.test_metrics, run.decision
        serving = reg.champion(domain.name)
        window = run.version.meta["test_window"]
        importance = run.version.meta["feature_importance"]
        return dg.MaterializeResult(check_results=[promotion_result(
            d, run.version.version, run.champion_version)], metadata={
            "model_version": run.version.version,
            "family": run.challenger.family,
            "promoted": d.promote,
            "decision": d.reason,
            "serving": "none" if serving is None else f"{serving.version} ({serving.family})",
            "champion_before": run.champion_version or "none",
            **{f"test_{k}": round(m[k], 4) for k in ("pr_auc", "roc_auc", "recall_at_1pct",
                                                     "recall_at_5pct")},
            "test_pr_auc_interval": _interval(d.interval),
            "difference_vs_champion": _interval(d.difference),
            "test_window": f"{window['first']}..{window['last']}: {window['rows']} rows, "
                           f"{window['positives']} positives (min {window['min_positives']})",
            "baseline_logreg_pr_auc": round(run.baselines["logistic_regression"]["pr_auc"], 4),
            "comparison": metrics_table(TABLE_KEYS, {
                **{f"{f} (validation)": c.val_metrics for f, c in run.candidates.items()},
                **{f"{f} (test)": c.test_metrics for f, c in run.candidates.items()},
                f"champion {run.champion_version}": run.champion_metrics,
                **run.baselines,
            }),
            "inputs": dg.MetadataValue.json({"categorical": schema.categorical,
                                             "numeric": schema.numeric}),
            "importance_method": importance["method"],
            "top_inputs": top_inputs(importance["values"]),
            "epochs": run.result.epochs,
            "train_seconds": round(run.result.seconds, 1),
            "train_samples_per_s": round(run.result.samples_per_s, 1),
            "torch_device": device.describe(),
            "training_set_version": version,
        })

    return [_training_set, _model]
