"""``lakeloop monitoring``: accept a new normal as the drift reference, show what is measured
against what (``lakeloop.monitoring.rebaseline``)."""

from __future__ import annotations

import argparse
import datetime as dt

from lakeloop.app.models_cli import _registry, enabled_models
from lakeloop.monitoring.rebaseline import Baseline, accept_baseline, active_baseline, baselines


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _enabled(domain: str) -> str:
    """Refuse a domain that is not enabled: a typo would otherwise record a baseline nobody
    reads."""
    models = enabled_models()
    if domain not in models:
        raise ValueError(f"no domain {domain!r}: the enabled domains are {sorted(models)}")
    return domain


def reference_days() -> int:
    """How many days from the baseline's start the drift reference holds (the drift
    configuration's default)."""
    from lakeloop.monitoring.measure import DriftConfig

    return DriftConfig().reference_days


def _line(b: Baseline) -> str:
    note = f" - {b.note}" if b.note else ""
    return (f"{b.reference_id}: champion {b.champion}, reference from {b.start} "
            f"(recorded {b.recorded_at}){note}")


def cmd_accept(args: argparse.Namespace) -> int:
    domain = _enabled(args.domain)
    baseline = accept_baseline(_registry(args), domain, args.start, args.note)
    days = reference_days()
    last = baseline.start + dt.timedelta(days=days - 1)
    print(f"{domain}: recorded baseline {baseline.reference_id} ({_line(baseline)})")
    print(f"The next drift measurement of {domain} uses the {days} days from {baseline.start} "
          f"to {last} as its reference, for champion {baseline.champion} (a promoted retrain "
          "replaces it with the new champion's own reference).")
    print(f"An open {domain} drift episode, if any, resolves at the next sensor tick that "
          "reads a day measured against it (reason: reference moved).")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    domain = _enabled(args.domain)
    registry = _registry(args)
    champion = registry.champion_version(domain)
    active = active_baseline(registry, domain)
    print(f"{domain} (champion: {champion or 'none'})")
    if active:
        print(f"  active baseline: {_line(active)}")
    elif champion:
        print("  active baseline: none - drift is measured against the champion's own "
              "reference week")
    else:
        print("  active baseline: none (no champion: nothing is measured)")
    history = baselines(registry, domain)
    print(f"  history ({len(history)}):" if history else "  history: none recorded")
    for b in reversed(history):
        mark = "*" if active and b == active else " "
        print(f"   {mark} {_line(b)}")
    return 0


def add_monitoring_parser(sub: argparse._SubParsersAction) -> None:
    monitoring = sub.add_parser(
        "monitoring", help="accept a new normal as the drift reference / show it",
        description="Re-baseline drift monitoring: when a domain's data has moved to a new "
        "normal the champion may keep serving, accept it as the drift reference so the open "
        "drift episode ends and the next one is judged against the new normal.")
    monitoring.add_argument("--lake",
                            help="lake root holding registry/ (default: $LAKELOOP_LAKE)")
    msub = monitoring.add_subparsers(dest="monitoring_command", required=True)
    p = msub.add_parser("accept", help="record the days from DAY as the champion's drift "
                        "reference")
    p.add_argument("domain", help="a domain name, e.g. fraud")
    p.add_argument("--from", dest="start", type=_date, required=True, metavar="YYYY-MM-DD",
                   help="first day of the new reference")
    p.add_argument("--note", default="", help="why (kept in the history)")
    p.set_defaults(func=cmd_accept)
    p = msub.add_parser("show", help="the active baseline and every one recorded")
    p.add_argument("domain", help="a domain name, e.g. fraud")
    p.set_defaults(func=cmd_show)


__all__ = ["add_monitoring_parser"]
