"""The alerts outbox: every alert is a row of the ``alerts/log`` Delta table with its delivery
status, and an alert no channel accepted is retried, with backoff, until one does.

Why: a webhook that is down for a minute (a deploy, a 502 from a proxy) must not swallow the
one alert of a drift episode - the sensors send each alert once per episode and kind, so a
lost alert is never sent again by them. The record is kept where the alerts already were,
and its status says what happened:

- ``delivered``: at least one channel accepted it (``delivered_at``; the other channels'
  failures stay in ``deliveries`` and ``last_error``);
- ``pending``: every configured channel failed; ``last_error`` says why (secrets redacted by
  ``lakeloop.alerting.channels.deliver``), ``next_attempt_at`` when it is tried again;
- ``logged``: no channel is configured (the demo): the log is the only destination.

``Outbox.send`` records a new alert after a first delivery attempt; an alert already recorded
(same episode and kind, whatever its status) is never recorded or sent again, so a retried
sensor tick cannot double-alert. ``Outbox.retry_due`` (the ``alert_outbox`` sensor calls it)
is the only place a recorded alert is sent again: pending alerts whose ``next_attempt_at``
has come, ``Backoff`` apart (exponential, capped), until a channel accepts; the record then
becomes ``delivered`` with its ``attempts`` and ``last_error`` kept. Delivery is at least once:
a process that dies between a channel accepting and the log's commit sends that alert again.

Rows written before the outbox have no status (null): they were sent or logged then, and are
never retried. Pure Python (Polars, Delta): no Dagster here; ``resources`` wires it in.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from lakeloop import names
from lakeloop.alerting.channels import Alert, Delivery, deliver
from lakeloop.storage.lake import Lake

TABLE = names.ALERTS_TABLE
DELIVERED, PENDING, LOGGED = "delivered", "pending", "logged"
KEY = ["episode", "kind"]
ALERT_COLUMNS = ["kind", "domain", "episode", "title", "summary", "report", "action", "at",
                 "details"]
# what each attempt changes (the rest of a record never does)
STATUS_SCHEMA: dict[str, Any] = {
    "episode": pl.String, "kind": pl.String, "deliveries": pl.String, "status": pl.String,
    "attempts": pl.Int64, "last_error": pl.String, "last_attempt_at": pl.String,
    "next_attempt_at": pl.String, "delivered_at": pl.String}
SCHEMA: dict[str, Any] = {**{c: pl.String for c in ALERT_COLUMNS}, **STATUS_SCHEMA}


def _iso(t: dt.datetime) -> str:
    """UTC, to the second: the one format, so timestamps compare as strings."""
    return t.astimezone(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Backoff:
    """Wait ``first_s`` after the first failed attempt, doubling after each, at most
    ``max_s``: a short outage is bridged quickly, a long one is not hammered."""

    first_s: float = 60.0
    max_s: float = 3600.0

    def delay(self, attempts: int) -> dt.timedelta:
        """The wait after ``attempts`` failed attempts (1: the first one failed)."""
        return dt.timedelta(seconds=min(self.max_s, self.first_s * 2 ** max(0, attempts - 1)))


@dataclass
class Outcome:
    """An alert's record after one delivery attempt (``deliveries``: one per channel of the
    attempt; empty when no channel is configured)."""

    alert: Alert
    status: str
    attempts: int
    deliveries: list[Delivery] = field(default_factory=list)
    last_error: str | None = None
    last_attempt_at: str | None = None
    next_attempt_at: str | None = None
    delivered_at: str | None = None

    def row(self) -> dict[str, Any]:
        """The status columns of the record (``STATUS_SCHEMA``)."""
        return {"episode": self.alert.episode, "kind": self.alert.kind,
                "deliveries": json.dumps([r.__dict__ for r in self.deliveries]),
                "status": self.status, "attempts": self.attempts,
                "last_error": self.last_error, "last_attempt_at": self.last_attempt_at,
                "next_attempt_at": self.next_attempt_at, "delivered_at": self.delivered_at}


def _errors(results: Sequence[Delivery]) -> str | None:
    failed = [f"{r.channel}: {r.error}" for r in results if not r.ok]
    return "; ".join(failed) or None


class Outbox:
    """Alerts recorded in ``lake``'s ``alerts/log`` and delivered through ``channels``."""

    def __init__(self, lake: Lake, channels: Sequence[Any], backoff: Backoff | None = None
                 ) -> None:
        self.lake = lake
        self.channels = list(channels)
        self.backoff = backoff or Backoff()

    def recorded(self, alert: Alert) -> bool:
        """Whether the log already holds this episode's alert of this kind."""
        return self.lake.exists(TABLE) and bool(self.lake.scan(TABLE).filter(
            (pl.col("episode") == alert.episode) & (pl.col("kind") == alert.kind)
        ).select(pl.len()).collect().item())

    def _attempt(self, alert: Alert, now: dt.datetime, attempts: int = 0,
                 last_error: str | None = None, last_attempt_at: str | None = None
                 ) -> Outcome:
        """Try every channel once; the record's next state (what an earlier attempt left,
        ``attempts``, ``last_error``, ``last_attempt_at``, carries over)."""
        if not self.channels:  # nowhere to send: the log is the destination
            return Outcome(alert, LOGGED, attempts, [], last_error, last_attempt_at)
        results = deliver(alert, self.channels)
        attempts, at = attempts + 1, _iso(now)
        error = _errors(results) or last_error
        if any(r.ok for r in results):
            return Outcome(alert, DELIVERED, attempts, results, error, at, delivered_at=at)
        return Outcome(alert, PENDING, attempts, results, error, at,
                       next_attempt_at=_iso(now + self.backoff.delay(attempts)))

    def send(self, alert: Alert, now: dt.datetime | None = None) -> Outcome | None:
        """Deliver a new alert and record it with its status; None (nothing sent) when the
        log already holds it."""
        if self.recorded(alert):
            return None
        now = now or dt.datetime.now(dt.UTC)
        outcome = self._attempt(alert, now)
        row = {k: v for k, v in alert.as_dict().items() if k != "details"}
        row["details"] = json.dumps(alert.details, default=str, sort_keys=True)
        row |= outcome.row()
        frame = pl.DataFrame([row], schema=SCHEMA)
        self.lake.append(TABLE, frame, evolve=True)  # a lost commit race is redone there
        return outcome

    def pending(self) -> pl.DataFrame:
        """The records still waiting for a channel, oldest first."""
        if not self.lake.exists(TABLE):
            return pl.DataFrame(schema=SCHEMA)
        lf = self.lake.scan(TABLE)
        if "status" not in lf.collect_schema().names():  # a log from before the outbox
            return pl.DataFrame(schema=SCHEMA)
        return lf.filter(pl.col("status") == PENDING).sort("at").collect()

    def retry_due(self, now: dt.datetime | None = None, limit: int = 20) -> list[Outcome]:
        """One more attempt for each pending alert whose time has come (at most ``limit``,
        the longest waiting first, so one tick stays short however many piled up); the new
        states land in one commit."""
        now = now or dt.datetime.now(dt.UTC)
        due = self.pending().filter(pl.col("next_attempt_at").is_null()
                                    | (pl.col("next_attempt_at") <= _iso(now)))
        outcomes = []
        for row in due.sort("next_attempt_at", nulls_last=False).head(limit).iter_rows(
                named=True):
            alert = Alert(**{k: row[k] for k in ALERT_COLUMNS if k != "details"},
                          details=json.loads(row["details"] or "{}"))
            outcomes.append(self._attempt(alert, now, int(row["attempts"] or 0),
                                          row["last_error"], row["last_attempt_at"]))
        if outcomes:
            frame = pl.DataFrame([o.row() for o in outcomes], schema=STATUS_SCHEMA)
            self.lake.update_rows(TABLE, frame, on=KEY)
        return outcomes
