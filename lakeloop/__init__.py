"""lakeloop: the plain-Python core (no Dagster imports) of the lakeloop pipeline.

Dagster wiring lives in the top-level ``assets``, ``resources`` and ``pipelines`` packages.
"""

__version__ = "0.1.0"
