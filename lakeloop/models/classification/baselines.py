"""The reference floor every classification candidate is reported against: logistic
regression on the same features and splits (one-hot categoricals, the network's numeric
scaling). Never served: it is the "is learning worth it at all" line on the model page.

Boosted trees are not a baseline any more but a candidate that can serve
(``lakeloop.models.classification.trees``)."""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder

from lakeloop.models.classification.network import Preprocessor
from lakeloop.models.metrics import classification_metrics
from lakeloop.training.columns import LABEL

MAX_VOCAB = 50
MAX_ROWS = 100_000  # a floor needs no more: keeps a 400k-row retrain's baseline to seconds


def fraud_baselines(train: pl.DataFrame, test: pl.DataFrame, categorical: list[str],
                    numeric: list[str]) -> dict[str, dict[str, float]]:
    """Test-split metrics of the baselines, fitted on ``train`` (a seeded sample of at most
    ``MAX_ROWS`` rows, every positive kept)."""
    if train.height > MAX_ROWS:
        positives = train.filter(pl.col(LABEL) == 1)
        negatives = train.filter(pl.col(LABEL) != 1)
        train = pl.concat([positives, negatives.sample(
            max(MAX_ROWS - positives.height, 1), seed=7)])
    pre = Preprocessor.fit(train, categorical, numeric, MAX_VOCAB)
    c_train, n_train = pre.transform(train)
    c_test, n_test = pre.transform(test)
    y_train = train[LABEL].cast(pl.Int32).to_numpy()
    y_test = test[LABEL].cast(pl.Int32).to_numpy()
    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(c_train)
    logreg = LogisticRegression(max_iter=2000, class_weight="balanced", C=0.5)
    logreg.fit(np.hstack([n_train, onehot.transform(c_train)]), y_train)
    lr_score = logreg.predict_proba(np.hstack([n_test, onehot.transform(c_test)]))[:, 1]
    return {"logistic_regression": classification_metrics(y_test, lr_score)}
