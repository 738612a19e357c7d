"""Models: plain torch / scikit-learn code, no Dagster. Metrics, fraud, demand."""
