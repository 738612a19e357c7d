"""Evidently reports of realised model quality, once outcomes are known.

Fraud: the champion's scores against matured chargebacks (``ClassificationPreset`` plus
PR-AUC and recall at the alert rate); demand: next-day and longer forecasts against actual
units (``RegressionPreset`` plus WAPE). Returned as (snapshot, JSON): the snapshot goes to the
Evidently workspace (``evidently_workspace``), the small JSON under ``reports/``.

Why our own metrics beside the presets: the figures a fraud team and the decay rule read
(PR-AUC, recall at the alert budget) and the forecast error the champion was promoted on
(WAPE) are not in Evidently's presets (their precision/recall are at a 0.5 threshold, and MAPE
is undefined on zero-sales days). They are computed by ``lakeloop.models.metrics``, the same
functions as the asset metadata, so the Evidently dashboards and Dagster show the same numbers.
Importing this module imports Evidently: import it where a report is built, not at load time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from evidently.core.metric_types import SingleValueCalculation, SingleValueMetric


class PrAuc(SingleValueMetric):
    """Average precision (PR-AUC) of ``score`` against the 0/1 ``target``."""

    target: str
    score: str


class PrAucCalculation(SingleValueCalculation[PrAuc]):
    def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
        from lakeloop.models.metrics import classification_metrics

        y, score = _arrays(current_data, self.metric.target, self.metric.score)
        return self.result(classification_metrics(y, score)["pr_auc"]), None

    def display_name(self) -> str:
        return f"PR-AUC of {self.metric.score}"


class RecallAtAlertRate(SingleValueMetric):
    """Share of positives among the top ``rate`` of rows by ``score`` (the alert budget)."""

    target: str
    score: str
    rate: float


class RecallAtAlertRateCalculation(SingleValueCalculation[RecallAtAlertRate]):
    def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
        from lakeloop.models.metrics import recall_at_alert_rate

        y, score = _arrays(current_data, self.metric.target, self.metric.score)
        return self.result(recall_at_alert_rate(y.astype(int), score, self.metric.rate)), None

    def display_name(self) -> str:
        return f"Recall at the top {self.metric.rate:.0%} of {self.metric.score}"


class Wape(SingleValueMetric):
    """Weighted absolute percentage error of ``prediction`` against ``target``."""

    target: str
    prediction: str


class WapeCalculation(SingleValueCalculation[Wape]):
    def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
        from lakeloop.models.metrics import wape

        actual, forecast = _arrays(current_data, self.metric.target, self.metric.prediction)
        return self.result(wape(actual, forecast)), None

    def display_name(self) -> str:
        return f"WAPE of {self.metric.prediction}"


def _arrays(data: Any, *columns: str) -> list[np.ndarray]:
    return [np.asarray(data.column(c).data, dtype=float) for c in columns]


def classification_report(frame: pl.DataFrame, target: str, score: str
                          ) -> tuple[Any, str] | None:
    """None when the outcomes hold a single class (no fraud yet): nothing to rank."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset

    if frame[target].n_unique() < 2:
        return None
    data = frame.select(pl.col(target).cast(pl.Int64), pl.col(score).cast(pl.Float64)).to_pandas()
    definition = DataDefinition(
        classification=[BinaryClassification(target=target, prediction_probas=score)],
        numerical_columns=[score])
    snapshot = Report([ClassificationPreset(), PrAuc(target=target, score=score),
                       *(RecallAtAlertRate(target=target, score=score, rate=r)
                         for r in (0.01, 0.05))]).run(
        Dataset.from_pandas(data, data_definition=definition), None)
    return snapshot, snapshot.json()


def regression_report(frame: pl.DataFrame, target: str, prediction: str) -> tuple[Any, str]:
    from evidently import DataDefinition, Dataset, Regression, Report
    from evidently.presets import RegressionPreset

    data = frame.select(pl.col(target).cast(pl.Float64),
                        pl.col(prediction).cast(pl.Float64)).to_pandas()
    definition = DataDefinition(regression=[Regression(target=target, prediction=prediction)],
                                numerical_columns=[target, prediction])
    snapshot = Report([RegressionPreset(), Wape(target=target, prediction=prediction)]).run(
        Dataset.from_pandas(data, data_definition=definition), None)
    return snapshot, snapshot.json()
