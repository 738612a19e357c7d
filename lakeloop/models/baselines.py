"""Honest baselines on the same features and splits: logistic regression and boosted trees."""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder

from lakeloop.models.fraud import Preprocessor
from lakeloop.models.metrics import classification_metrics
from lakeloop.training_sets import LABEL


def fraud_baselines(train: pl.DataFrame, test: pl.DataFrame, pre: Preprocessor, seed: int = 7
                    ) -> dict[str, dict[str, float]]:
    """Test-split metrics of the baselines, fitted on ``train`` with the model's preprocessing."""
    c_train, n_train = pre.transform(train)
    c_test, n_test = pre.transform(test)
    y_train = train[LABEL].cast(pl.Int32).to_numpy()
    y_test = test[LABEL].cast(pl.Int32).to_numpy()

    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(c_train)
    logreg = LogisticRegression(max_iter=2000, class_weight="balanced", C=0.5)
    logreg.fit(np.hstack([n_train, onehot.transform(c_train)]), y_train)
    lr_score = logreg.predict_proba(np.hstack([n_test, onehot.transform(c_test)]))[:, 1]

    n_cat = c_train.shape[1]
    gbt = HistGradientBoostingClassifier(
        max_iter=300, learning_rate=0.08, max_leaf_nodes=31, random_state=seed,
        categorical_features=list(range(n_cat)), early_stopping=True,
        validation_fraction=0.15, n_iter_no_change=20,
    )
    gbt.fit(np.hstack([c_train, n_train]), y_train)
    gbt_score = gbt.predict_proba(np.hstack([c_test, n_test]))[:, 1]
    return {
        "logistic_regression": classification_metrics(y_test, lr_score),
        "gradient_boosting": classification_metrics(y_test, gbt_score),
    }
