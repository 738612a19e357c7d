"""Evidently reports of realised model quality, once outcomes are known.

Fraud: the champion's scores against matured chargebacks (``ClassificationPreset``); demand:
next-day and longer forecasts against actual units (``RegressionPreset``). Returned as
(HTML, JSON) for the monitoring assets to keep under ``reports/``.
"""

from __future__ import annotations

import polars as pl

from lakeloop.drift import html_of


def classification_report(frame: pl.DataFrame, target: str, score: str) -> tuple[str, str] | None:
    """None when the outcomes hold a single class (no fraud yet): nothing to rank."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset

    if frame[target].n_unique() < 2:
        return None
    data = frame.select(pl.col(target).cast(pl.Int64), pl.col(score).cast(pl.Float64)).to_pandas()
    definition = DataDefinition(
        classification=[BinaryClassification(target=target, prediction_probas=score)],
        numerical_columns=[score])
    snapshot = Report([ClassificationPreset()]).run(
        Dataset.from_pandas(data, data_definition=definition), None)
    return html_of(snapshot), snapshot.json()


def regression_report(frame: pl.DataFrame, target: str, prediction: str) -> tuple[str, str]:
    from evidently import DataDefinition, Dataset, Regression, Report
    from evidently.presets import RegressionPreset

    data = frame.select(pl.col(target).cast(pl.Float64),
                        pl.col(prediction).cast(pl.Float64)).to_pandas()
    definition = DataDefinition(regression=[Regression(target=target, prediction=prediction)],
                                numerical_columns=[target, prediction])
    snapshot = Report([RegressionPreset()]).run(
        Dataset.from_pandas(data, data_definition=definition), None)
    return html_of(snapshot), snapshot.json()
