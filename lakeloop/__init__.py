"""lakeloop: the plain-Python core (no Dagster imports) of the lakeloop pipeline.

Packages follow the data, in the order a day travels through them::

    contracts/   what each dataset is: schema, rules, roles, calendar (YAML -> pydantic)
    storage/     where it lives: landing files and Delta tables, local or s3://
    ingest/      landing files -> typed, validated bronze rows + quarantine
    features/    bronze -> point-in-time features from contract roles (Polars)
    training/    features -> training sets rebuilt from recorded Delta versions
    models/      candidates: classification/ (TabM, LightGBM) and forecast/ (N-HiTS, rules)
    registry/    versioned models, the champion pointer, and the promotion rule
    monitoring/  drift, calibrated thresholds, realised performance, Evidently reports
    alerting/    episodes, the alerts outbox, delivery to webhook/Slack/e-mail
    app/         the ``lakeloop`` command and the demo's report
    simulate/    the embedded default data source (a seeded simulator)

Beside them: ``settings`` (every default and its environment variable, declared once),
``names`` (every table, asset, check, job and sensor name) and ``catalog`` (the tables the
lake holds, summarised). Imports point one way, down this list's dependencies;
``tests/unit/test_import_graph.py`` fails on any circle. Dagster wiring lives in the
top-level ``assets``, ``resources`` and ``pipelines`` packages.
"""

__version__ = "0.1.0"
