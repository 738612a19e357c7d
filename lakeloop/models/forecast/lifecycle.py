"""Train a demand challenger, backtest it against the baseline rules and the champion, choose
the best candidate, register it, decide, and forecast with the champion - network or rule.

A champion always serves: every candidate the promotion rule can pick is registrable and
servable - the N-HiTS network (meta + weights.pt, family "nhits") and the baseline rules
(``demand_baselines``: seasonal naive, weekday mean, moving average; meta.json only, the
family and its parameters). The candidate with the lowest backtest MASE is the challenger;
it replaces the champion when it wins by the margin on the same origins, and with no
champion it serves at once.

The registry name is the domain's name (``model_name``), so several forecasting domains keep
separate champions. Horizons and seasons count the domain calendar's open days.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lakeloop.models.compute import Compute
from lakeloop.models.forecast.backtest import BacktestPlan, backtest, forecast_metrics
from lakeloop.models.forecast.baselines import FAMILIES, BaselineRule, default_rules, raw_point
from lakeloop.models.forecast.nhits import (
    TARGET,
    DemandConfig,
    DemandModel,
    DemandTrainResult,
    future_rows,
    train_demand,
)
from lakeloop.names import SERIES_ID
from lakeloop.registry.model_registry import ModelRegistry, ModelVersion
from lakeloop.registry.promotion import Decision, register_and_apply, training_meta

if TYPE_CHECKING:
    from lakeloop.contracts.calendar import BusinessCalendar

MODEL_NAME = "demand"  # the default registry name (the built-in demand domain)
PROMOTION_METRIC = "mase"
NETWORK = "nhits"
BASELINES = FAMILIES  # the baseline families, each a candidate that can serve
CANDIDATES = (NETWORK, *FAMILIES)
METHODS = (*CANDIDATES, "last_value")  # what the forecast table's `method` can say

Forecaster = DemandModel | BaselineRule


@dataclass
class DemandRun:
    version: ModelVersion
    decision: Decision
    result: DemandTrainResult  # the network candidate, as backtested
    metrics: dict[str, dict[str, float]]  # every candidate on the backtest: nhits + rules
    champion_version: str | None
    champion_metrics: dict[str, float] | None
    backtest: pd.DataFrame
    deployed: DemandTrainResult | None  # the registered network (``result`` or its refit)
    family: str = NETWORK  # the registered candidate's family
    family_reason: str = ""  # why that family was chosen


def demand_family(mv: ModelVersion) -> str:
    """The version's family; demand versions registered before families existed are networks
    (the registry's default family is "torch")."""
    return NETWORK if mv.family in ("torch", NETWORK) else mv.family


def load_demand_model(registry: ModelRegistry, mv: ModelVersion,
                      sample: pd.DataFrame | None = None) -> Forecaster:
    """The registered forecaster: a baseline rule from its JSON parameters (there are no
    weights to load), or the network rebuilt from its JSON meta and weights (no pickle, no
    contract). ``sample`` (optional): the frame about to be forecast, checked for the
    network's inputs."""
    family = demand_family(mv)
    if family in FAMILIES:
        return BaselineRule.from_params(mv.meta["rule"])
    if family != NETWORK:
        raise ValueError(f"{mv.model} {mv.version}: unknown demand model family {family!r}")
    return DemandModel.rebuild(mv.meta, registry.load_weights(mv), sample)


def history_open_days(mv: ModelVersion) -> int:
    """Open days of history a forecast by ``mv`` reads, up to and including its origin: the
    network's encoder (and a season for the seasonal-naive fallback), or the rule's own
    window (:meth:`BaselineRule.history_days`)."""
    if demand_family(mv) in FAMILIES:
        rule = BaselineRule.from_params(mv.meta["rule"])
        return max(rule.history_days(), rule.season) + 1
    cfg = mv.meta["config"]
    return max(int(cfg["encoder_length"]), int(cfg.get("season", 7))) + 1


def rules_for(cfg: DemandConfig) -> list[BaselineRule]:
    """The baseline candidates for a configuration (its horizon, season and quantiles)."""
    return default_rules(cfg.horizon, cfg.season, cfg.quantiles, cfg.moving_average_days,
                         cfg.baseline_fit_days, cfg.intermittent_share)


def _mase(m: dict[str, float] | None) -> float:
    value = math.nan if m is None else float(m.get(PROMOTION_METRIC, math.nan))
    return value if math.isfinite(value) else math.nan


def choose_family(metrics: dict[str, dict[str, float]]) -> tuple[str, str]:
    """The candidate with the lowest backtest MASE, and why, in words.

    Ties (and candidates with no MASE, e.g. only constant series) are broken by MAE, then in
    favour of a rule over the network: the simpler model, at equal accuracy."""
    def key(family: str) -> tuple[float, float, bool]:
        m = metrics[family]
        mae = float(m.get("mae", math.nan))
        return (_mase(m) if math.isfinite(_mase(m)) else math.inf,
                mae if math.isfinite(mae) else math.inf, family == NETWORK)

    ranked = sorted((f for f in CANDIDATES if f in metrics), key=key)
    if not ranked:
        raise ValueError("no candidate was backtested")
    best = ranked[0]
    board = ", ".join(f"{f} {_mase(metrics[f]):.4f}" for f in ranked)
    return best, f"{best} has the lowest backtest MASE of the candidates ({board})"


def decide_demand(family: str, metrics: dict[str, dict[str, float]],
                  champion: ModelVersion | None, champion_metrics: dict[str, float] | None,
                  margin: float, unscorable: str | None = None) -> Decision:
    """Promote the best candidate (``family``) if it beats the champion's backtest MASE by
    ``margin`` on the same origins; with no champion - or one that cannot read today's
    features, so cannot serve either - it serves at once (a champion always serves)."""
    challenger = _mase(metrics[family])
    baselines = [_mase(metrics[b]) for b in FAMILIES if b in metrics]
    best_baseline = min((b for b in baselines if math.isfinite(b)), default=math.nan)
    champ = None if champion_metrics is None else _mase(champion_metrics)

    def d(promote: bool, why: str) -> Decision:
        return Decision(promote, why, PROMOTION_METRIC, challenger, champ, best_baseline,
                        family)

    head = f"{family} challenger MASE {challenger:.4f}"
    if champion is None:
        return d(True, f"first model: {head}, the best candidate, serves")
    label = f"champion {champion.version} ({demand_family(champion)})"
    if champion_metrics is None:
        return d(True, f"{head} replaces {label}, which cannot be scored on today's features "
                 f"({unscorable}) and so cannot serve them either")
    if not math.isfinite(challenger):
        return d(False, f"{head}: undefined on the backtest; {label} serves on")
    if champ is None or not math.isfinite(champ):
        return d(True, f"{head} replaces {label}, whose MASE is undefined on the same origins")
    if champ - challenger >= margin:
        return d(True, f"{head} beats {label} {champ:.4f} by >= {margin} on the same origins")
    return d(False, f"{head} does not beat {label} {champ:.4f} by the margin {margin} on the "
             "same origins; kept as challenger")


def _score_champion(registry: ModelRegistry, champion: ModelVersion, pdf: pd.DataFrame,
                    plan: BacktestPlan, compute: Compute, cfg: DemandConfig,
                    train: pd.DataFrame) -> dict[str, float] | None:
    """The champion's metrics on the same plan: the network re-forecast, or a rule re-run
    with its own parameters (over this plan's horizon, so the points scored are the same)."""
    champ = load_demand_model(registry, champion, pdf)
    if isinstance(champ, BaselineRule):
        rule = dataclasses.replace(champ, horizon=cfg.horizon)
        results = backtest(None, pdf, plan, compute, rules=[rule])
    else:
        results = backtest(champ, pdf, plan, compute)
    return forecast_metrics(results, train, cfg.quantiles, cfg.season).get(
        demand_family(champion))


def train_and_promote_demand(
    pdf: pd.DataFrame, plan: BacktestPlan, registry: ModelRegistry, compute: Compute,
    cfg: DemandConfig, margin: float, lineage: dict[str, Any],
    log: Callable[[str], None] = print, progress: bool = False, refit: bool = True,
    model_name: str = MODEL_NAME,
) -> DemandRun:
    """Backtest the network and the baseline rules, register the best of them (lowest MASE)
    as the challenger with every candidate's metrics, and promote it if it wins (see
    :func:`decide_demand`). ``pdf``: a ``to_pandas`` frame; ``model_name``: the registry name
    (the domain's name).

    If the network is chosen and promoted and ``refit``, the registered weights are a refit
    of the same configuration on all the history (early-stopped on the newest horizon). Why
    refit: the backtest holds out the newest ``origins x horizon`` days, so the model it
    judges never trained on them - after a drift those are exactly the days of the new normal
    (demo, level shift: next-day WAPE 0.350 for the backtested weights, 0.336 refitted, 0.339
    for the old champion). The metrics recorded stay the backtest's. A rule needs no refit:
    it reads the newest days whenever it forecasts.

    A champion that cannot read today's features (the contract dropped a covariate it uses)
    cannot be compared: it is logged, recorded as ``champion_unscorable``, and the best
    candidate replaces it - it could not serve today's features either."""
    result = train_demand(pdf, plan.val_from, cfg, compute, progress=progress, log=log)
    train = pdf[pdf["time_idx"] < plan.val_from]
    rules = {r.family: r for r in rules_for(cfg)}
    results = backtest(result.model, pdf, plan, compute, rules=list(rules.values()))
    metrics = forecast_metrics(results, train, cfg.quantiles, cfg.season)
    family, why = choose_family(metrics)
    log(f"{model_name} challenger: {why}")

    champion = registry.champion(model_name)
    champion_metrics, unscorable = None, None
    if champion is not None:
        try:
            champion_metrics = _score_champion(registry, champion, pdf, plan, compute, cfg,
                                               train)
        except ValueError as exc:
            unscorable = str(exc)
        else:
            if champion_metrics is None:
                unscorable = "it forecast none of the backtest's series"
        if unscorable:
            log(f"{model_name} champion {champion.version} cannot be scored: {unscorable}")
    decision = decide_demand(family, metrics, champion, champion_metrics, margin, unscorable)

    meta: dict[str, Any] = {
        "family": family,
        "family_reason": why,
        "metrics": metrics[family],
        "candidates": metrics,
        "baselines": {b: metrics[b] for b in FAMILIES if b in metrics},
        "backtest": {"origins": list(plan.origins), "val_from": plan.val_from},
        "training_set": lineage,
        "champion_metrics_on_backtest": champion_metrics,
        "champion_family": None if champion is None else demand_family(champion),
        "champion_unscorable": unscorable,
    }
    deployed: DemandTrainResult | None = None
    state = None
    if family == NETWORK:
        deployed, refit_meta = result, None
        if decision.promote and refit:
            last_val_from = int(pdf["time_idx"].max()) - cfg.horizon + 1
            log(f"refit on all history (validation: the last {cfg.horizon} open days)")
            deployed = train_demand(pdf, last_val_from, cfg, compute, progress=progress,
                                    log=log)
            refit_meta = {"val_from": last_val_from, "epochs": deployed.epochs,
                          "train_seconds": deployed.seconds}
        state = deployed.model.state()
        meta |= {**deployed.model.meta(), "refit": refit_meta,
                 **training_meta(cfg.seed, compute.describe(), result)}
    else:  # a rule: its parameters are the model; the network lost and is only reported
        meta |= {"rule": rules[family].params(), "refit": None,
                 "network_candidate": {**training_meta(cfg.seed, compute.describe(), result),
                                       "config": cfg.to_dict()}}
    version = register_and_apply(registry, model_name, state, meta, decision, champion, log)
    return DemandRun(version, decision, result, metrics,
                     None if champion is None else champion.version, champion_metrics, results,
                     deployed, family, why)


def from_day(fc: pd.DataFrame, day: dt.date, calendar: BusinessCalendar) -> pd.DataFrame:
    """``fc`` (``forecast_with_fallback``'s) as the forecast issued on ``day``: only open days
    after ``day``, each ``horizon`` counted in open days from ``day``. A series whose newest
    row is older than ``day`` (none in the look-back's last days) is forecast from its own last
    day; its steps on or before ``day`` are then no forecast, and were labelled horizon 1, 2...
    (issue 26: forecasts for the forecast day itself, called one day ahead)."""
    import polars as pl

    if fc.empty:
        return fc
    targets = pl.Series(pd.to_datetime(fc["target_date"]).dt.date.tolist(), dtype=pl.Date)
    steps = (calendar.index_series(targets) - calendar.index_or_previous(day)).to_numpy()
    out = fc.assign(horizon=steps)
    return out[out["horizon"] >= 1].reset_index(drop=True)


def forecast_with_fallback(model: Forecaster, history: pd.DataFrame, compute: Compute,
                           calendar: BusinessCalendar) -> pd.DataFrame:
    """Forecast every series of ``history`` over the next ``horizon`` open days after its own
    last day, with the champion whichever its family.

    The network forecasts the series it knows that have at least ``encoder_length`` days of
    history; a rule forecasts every series whose days it reads are there. Every other
    (series, step) - new series, cold starts, a network row that came out non-finite - gets a
    stated fallback rather than an error: seasonal naive (the value one calendar season
    earlier, ``calendar.periods_per_week`` open days), else the series' last value (0 if it
    has none); the quantile columns are then that point forecast. ``method`` says which: the
    champion's family ("nhits", "seasonal_naive", "weekday_mean", "moving_average") or the
    fallback's ("seasonal_naive" / "last_value").

    Columns: series_id, time_idx, horizon, q* ..., method, target_date (the open day forecast).
    """
    if isinstance(model, BaselineRule):
        horizon, quantiles, family = model.horizon, model.quantiles, model.family
        primary = model.forecast(history)
    else:
        horizon, quantiles, family = model.config.horizon, model.config.quantiles, NETWORK
        primary = model.forecast(history, future_rows(history, horizon, calendar), compute)
    qcols = [f"q{q}" for q in quantiles]
    primary = primary[np.isfinite(primary[qcols].to_numpy(dtype=float)).all(axis=1)] \
        .assign(method=family)
    # every (series, step) to forecast, with the fallback's value
    origins = history.groupby(history[SERIES_ID].astype(str))["time_idx"].max()
    grid = raw_point("seasonal_naive", history, origins, horizon, calendar.periods_per_week)
    ordered = history.dropna(subset=[TARGET]).sort_values("time_idx")
    last_value = ordered.groupby(ordered[SERIES_ID].astype(str))[TARGET].last()
    has_naive = grid["forecast"].notna()
    grid["method"] = np.where(has_naive, "seasonal_naive", "last_value")
    grid["forecast"] = grid["forecast"].where(
        has_naive, grid[SERIES_ID].map(last_value).fillna(0.0).astype(float))
    keys = pd.MultiIndex.from_frame(primary[[SERIES_ID, "horizon"]].astype(
        {SERIES_ID: str, "horizon": "int64"}))
    missing = grid[~pd.MultiIndex.from_frame(grid[[SERIES_ID, "horizon"]]).isin(keys)]
    fallback = missing.assign(**{c: missing["forecast"] for c in qcols}).drop(
        columns="forecast")
    filled = [f for f in (primary, fallback) if len(f)]
    out = pd.concat(filled, ignore_index=True) if filled else primary
    out = out.astype({"time_idx": "int64", "horizon": "int64"})
    days = {int(t): calendar.day_at(int(t)) for t in pd.unique(out["time_idx"])}
    out["target_date"] = [days[int(t)] for t in out["time_idx"]]
    return out[[SERIES_ID, "time_idx", "horizon", *qcols, "method", "target_date"]] \
        .sort_values([SERIES_ID, "horizon"]).reset_index(drop=True)


def plot_backtest(results: pd.DataFrame, pdf: pd.DataFrame, n_series: int = 4) -> bytes:
    """PNG: actuals and forecasts (N-HiTS band, the baselines' medians) for a few series, last
    origin.
    The x axis is the open-day index (closed days take no room)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    origin = results["origin"].max()
    last = results[results["origin"] == origin]
    end = int(last["time_idx"].max()) if len(last) else int(origin)
    series = sorted(last[SERIES_ID].unique())[:: max(1, last[SERIES_ID].nunique() // n_series)]
    series = series[:n_series]
    fig, axes = plt.subplots(max(len(series), 1), 1, figsize=(9, 2.2 * max(len(series), 1)),
                             sharex=True)
    for ax, s in zip(np.atleast_1d(axes), series, strict=False):
        hist = pdf[(pdf[SERIES_ID] == s) & (pdf["time_idx"] <= end)]
        ax.plot(hist["time_idx"], hist[TARGET], color="black", lw=1, label="actual")
        nn = last[(last[SERIES_ID] == s) & (last["model"] == "nhits")]
        ax.fill_between(nn["time_idx"], nn["q0.1"], nn["q0.9"], alpha=0.3, label="N-HiTS 10-90%")
        ax.plot(nn["time_idx"], nn["q0.5"], label="N-HiTS median")
        for family in FAMILIES:
            rule = last[(last[SERIES_ID] == s) & (last["model"] == family)]
            if len(rule):
                ax.plot(rule["time_idx"], rule["q0.5"], ls="--", lw=1,
                        label=family.replace("_", " "))
        ax.axvline(origin, color="grey", lw=0.8)
        ax.set_title(s, fontsize=9)
    np.atleast_1d(axes)[0].legend(fontsize=7, ncol=4)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()
