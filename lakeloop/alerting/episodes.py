"""Drift episodes as an operator sees them: read back from the alerts log (``alerts/log``),
one row per episode, open or resolved. The alerts log is the record of what lakeloop told
people; an episode is open from its ``drift_open`` alert until its ``drift_resolved`` one.
Other alerts of an episode (``drift_persisting``: still open after ``persist_days``) neither
open nor close it; the view marks the episodes that had one (``persisting``)."""

from __future__ import annotations

import polars as pl

OPEN, RESOLVED, PERSISTING = "drift_open", "drift_resolved", "drift_persisting"
COLUMNS = {"episode": pl.String, "opened": pl.String, "resolved": pl.String, "open": pl.Boolean,
           "title": pl.String, "action": pl.String, "report": pl.String,
           "persisting": pl.Boolean, "resolved_because": pl.String}


def episodes(alerts: pl.DataFrame | None, domain: str) -> pl.DataFrame:
    """Episodes of ``domain``, newest first (``opened``/``resolved``: the alerts' times)."""
    if alerts is None or alerts.is_empty():
        return pl.DataFrame(schema=COLUMNS)
    mine = alerts.filter(pl.col("domain") == domain)
    opened = mine.filter(pl.col("kind") == OPEN).select(
        "episode", pl.col("at").alias("opened"), "title", "action", "report")
    resolved = mine.filter(pl.col("kind") == RESOLVED).select(
        "episode", pl.col("at").alias("resolved"), pl.col("summary").alias("resolved_because"))
    persisting = mine.filter(pl.col("kind") == PERSISTING).select("episode").unique()
    return (opened.join(resolved, on="episode", how="left")
            .with_columns(pl.col("resolved").is_null().alias("open"),
                          pl.col("episode").is_in(persisting["episode"].implode())
                          .alias("persisting"))
            .select(list(COLUMNS)).sort("opened", descending=True))


def episodes_markdown(frame: pl.DataFrame, rows: int = 10) -> str:
    """The newest ``rows`` episodes as a markdown table (open ones say so in bold)."""
    if frame.is_empty():
        return "No drift episode so far."
    lines = ["| episode | state | opened | resolved | action |", "|---|---|---|---|---|"]
    for r in frame.head(rows).iter_rows(named=True):
        state = "**OPEN**" if r["open"] else "resolved"
        if r["persisting"]:
            state += " (persisted)"
        if r["resolved_because"] and r["resolved_because"].startswith("reference moved"):
            state += " (reference moved)"
        lines.append(f"| {r['episode']} | {state} | {r['opened']} | {r['resolved'] or ''} | "
                     f"{(r['action'] or '').replace('|', '/')} |")
    return "\n".join(lines)
