"""Ingest: one day of landing files to bronze rows and quarantined rows, losing nothing.

``landing_files``  one file's bytes to raw text values (CSV or Parquet, told by content)
``landed``         a day's files under its contract: read, manifest checks, typing
``staging``        typed rows staged on local disk, a block at a time, until validated
``validation``     Great Expectations suites built from the contract; row verdicts
``volume_bounds``  a day's lower bound on rows, learnt from the same weekdays' history
``bronze``         the whole day: read, stage, validate, write bronze + quarantine (Delta)
"""
