"""Classification metrics a fraud team reads: ranking quality at the alert budget."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score


def recall_at_alert_rate(y: np.ndarray, score: np.ndarray, rate: float) -> float:
    """Share of fraud caught when the top ``rate`` of transactions (by score) is alerted."""
    positives = y.sum()
    if positives == 0:
        return float("nan")
    k = max(1, int(np.ceil(rate * len(y))))
    top = np.argsort(-score, kind="stable")[:k]
    return float(y[top].sum() / positives)


def precision_at_recall(y: np.ndarray, score: np.ndarray, recall: float) -> float:
    """Best precision among thresholds that reach at least ``recall``."""
    if y.sum() == 0:
        return float("nan")
    precision, rec, _ = precision_recall_curve(y, score)
    ok = rec >= recall
    return float(precision[ok].max()) if ok.any() else 0.0


def classification_metrics(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    y = np.asarray(y).astype(int)
    score = np.asarray(score, dtype=float)
    both = 0 < y.sum() < len(y)
    return {
        "pr_auc": float(average_precision_score(y, score)) if both else float("nan"),
        "roc_auc": float(roc_auc_score(y, score)) if both else float("nan"),
        "recall_at_1pct": recall_at_alert_rate(y, score, 0.01),
        "recall_at_5pct": recall_at_alert_rate(y, score, 0.05),
        "precision_at_50pct_recall": precision_at_recall(y, score, 0.5),
        "positives": int(y.sum()),
        "rows": len(y),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
    }
