"""Dataset contracts: each dataset's schema, rules, roles and calendar in one declarative YAML.

A contract has three parts:

- ``columns``: the declared columns with their type and row rules (``source`` maps a landing
  column name onto ours), plus ``extra_columns``: which *undeclared* landing columns to keep
  (names or glob patterns, ``"*"`` for every other column; their types are inferred at ingest
  and reported), so a table of 300 anonymous columns needs no 300 declarations;
- ``roles``: what each column *means* to lakeloop (ids, event time, entities, amount, label,
  features, series keys, target, known/unknown covariates). One column may serve several roles.
  Features, models, scoring and monitoring read column names from here and nowhere else;
- ``calendar`` (a domain's main dataset): closed weekdays and dates, public holidays through
  the ``holidays`` package, and whether a day without files is a closed day.

Every dataset belongs to a ``domain``. A domain's *kind* follows from its main dataset's roles:
a ``label`` makes a classification domain (fraud), ``series`` + ``target`` a forecasting domain
(demand). A contract is validated when loaded; errors name the file, the field and the fix.

Modules: this one (the contract models and loading), ``calendar`` (a contract's calendar and the
open-day arithmetic built on it), ``domains`` (contracts grouped into domains), ``base`` (the
strict base model); the built-in contracts are the YAML files beside them.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from lakeloop.contracts.base import StrictModel as _Strict
from lakeloop.contracts.calendar import BusinessCalendar, CalendarSpec

DType = Literal["string", "int64", "float64", "bool", "date", "datetime"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BUILTIN_DIR = Path(__file__).parent
EVENT_TIME = "event_time"  # lakeloop's name for an event time it derives (epoch, date + time)
# Names lakeloop gives columns it derives; a team column may not use them (rename it with
# `source`), or it would be silently replaced by lakeloop's value.
RESERVED = {
    "classification": {EVENT_TIME, "date", "hour", "weekday", "is_night", "log_amount",
                       "label", "split", "score"},
    "forecast": {"date", "series_id", "target", "t", "price_ratio", "weekday", "month",
                 "day_of_year", "holiday"},
}
NUMERIC = ("int64", "float64")


class ContractError(ValueError):
    """A contract file that cannot be used; the message names the file and the fix."""


class ColumnSpec(_Strict):
    dtype: DType
    source: str | None = Field(None, description="column name in the landing file, if not ours")
    nullable: bool = True
    allowed: list[str] | None = None
    min: float | None = None
    max: float | None = None
    format: str | None = Field(None, description="strptime format for date/datetime text")
    description: str | None = Field(None, description="what the column holds, for the UI")

    def summary(self) -> str:
        """One line for the UI's column schema: the team's description, then the rules the
        contract enforces on the column (so a reader sees what is checked, not only a type)."""
        rules = [self.dtype, "optional" if self.nullable else "required"]
        if self.min is not None and self.max is not None:
            rules.append(f"between {self.min:g} and {self.max:g}")
        elif self.min is not None:
            rules.append(f"at least {self.min:g}")
        elif self.max is not None:
            rules.append(f"at most {self.max:g}")
        if self.allowed:
            shown = ", ".join(self.allowed[:8]) + (", ..." if len(self.allowed) > 8 else "")
            rules.append(f"one of {shown}")
        if self.source:
            rules.append(f"landing column '{self.source}'")
        if self.format:
            rules.append(f"format {self.format}")
        return (f"{self.description.rstrip('.')}. " if self.description else "") \
            + "; ".join(rules)


class BatchRules(_Strict):
    min_rows: int = 1
    # a day's lower bound learnt from the same weekday over the last ``volume_weeks`` weeks
    # (``lakeloop.ingest.volume_bounds``), at this budget of false refusals
    false_refusals: float = 1.0
    false_refusal_days: int = 365
    volume_weeks: int = 8
    # until that history exists: this share of the recent days' median (None: no floor)
    min_rows_vs_recent_median: float | None = 0.3
    # a spike: more than this many times the trailing median (a file sent twice, a runaway
    # export); None: no upper bound
    max_rows_vs_recent_median: float | None = 10.0
    recent_days: int = 7
    mean_between: dict[str, tuple[float, float]] = Field(default_factory=dict)
    max_bad_row_fraction: float = 0.05
    max_unparseable_fraction: float = 0.5


class ExtraColumns(_Strict):
    """Undeclared landing columns to keep in bronze (types inferred, reported at ingest)."""

    keep: list[str] = Field(default_factory=list, description='names or patterns; "*": all')
    drop: list[str] = Field(default_factory=list)

    def kept(self, names: list[str]) -> list[str]:
        return [n for n in names if matches(n, self.keep) and not matches(n, self.drop)]


class EventTime(_Strict):
    """When an event happened. One of:

    - ``{column: ts}``: a datetime (or date) column;
    - ``{column: t, unit: s}`` / ``unit: ms``: epoch seconds / milliseconds, or an offset from
      ``origin`` (``origin: "2017-12-01T00:00:00"``) when the clock is "seconds since ...";
    - ``{date: d, time: t}``: a date column and a time-of-day column (``time_format``).
    """

    column: str | None = None
    unit: Literal["s", "ms"] | None = None
    origin: str | None = Field(None, description="ISO datetime the offsets count from")
    date: str | None = None
    time: str | None = None
    time_format: str = "%H:%M:%S"

    @model_validator(mode="after")
    def _one_kind(self) -> EventTime:
        if (self.column is None) == (self.date is None):
            raise ValueError("event_time: give either `column` or `date` (+ `time`)")
        if self.date is not None and self.time is None:
            raise ValueError("event_time: `date` needs `time` (or use `column: <date column>`)")
        if self.origin is not None and self.unit is None:
            raise ValueError("event_time: `origin` needs `unit: s` or `unit: ms`")
        if self.unit is not None and self.date is not None:
            raise ValueError("event_time: `unit` applies to `column` (an epoch/offset clock), "
                             "not to `date` + `time`")
        if self.origin is not None:
            try:
                dt.datetime.fromisoformat(self.origin)
            except ValueError as exc:
                raise ValueError(f"event_time.origin {self.origin!r} is not an ISO datetime "
                                 "(e.g. 2017-12-01T00:00:00)") from exc
        return self

    @property
    def derived(self) -> bool:
        """True when lakeloop computes the time into its own ``event_time`` column."""
        return self.unit is not None or self.date is not None

    @property
    def output(self) -> str:
        """The bronze column that holds the event time as a datetime (or date)."""
        return EVENT_TIME if self.derived else str(self.column)

    @property
    def sources(self) -> list[str]:
        return [c for c in (self.column, self.date, self.time) if c]


class LabelSpec(_Strict):
    """The outcome a classifier learns. Either a separate dataset of reported labels (a row
    there marks the matching event positive from the day it lands: chargebacks), or a 0/1
    column of the events themselves that is final ``maturity_days`` after the event."""

    dataset: str | None = Field(None, description="reported-labels dataset (its contract name)")
    column: str | None = Field(None, description="0/1 label column of this dataset")
    maturity_days: int | None = Field(None, ge=0, description="days until `column` is final")
    positive: list[str] = Field(default_factory=lambda: ["1", "true"],
                                description="values of `column` that mean positive")

    @model_validator(mode="after")
    def _one_kind(self) -> LabelSpec:
        if (self.dataset is None) == (self.column is None):
            raise ValueError("label: give either `dataset` (reported labels) or `column`")
        if self.column is not None and self.maturity_days is None:
            raise ValueError("label: a label `column` needs `maturity_days` (how many days "
                             "after the event its value is final)")
        return self


class FeatureSelection(_Strict):
    """Model input columns: names or glob patterns (``"V*"``); ``"*"`` is every column no
    other role uses. ``exclude`` also removes features lakeloop derives (``card_count_1h``).
    ``categorical`` forces columns to be categories (text is categorical anyway; numbers are
    numeric unless listed here)."""

    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    false_alarm_budget: AlarmBudget | None = Field(
        None, description="expected false drift episodes on quiet data the calibrated "
        "thresholds allow (default: the monitor's config, 1 per 60 days)")


    categorical: list[str] = Field(default_factory=list)


class AlarmBudget(_Strict):
    """At most ``false_episodes`` false drift episodes per ``per_days`` quiet days."""

    false_episodes: float = Field(1.0, gt=0)
    per_days: int = Field(60, gt=0)


class Monitoring(_Strict):
    """Drift monitoring columns: the model's inputs, less ``exclude``, plus ``include``."""

    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    false_alarm_budget: AlarmBudget | None = Field(
        None, description="expected false drift episodes on quiet data the calibrated "
        "thresholds allow (default: the monitor's config, 1 per 60 days)")




class Roles(_Strict):
    id: list[str] = Field(default_factory=list, description="columns identifying one event")
    event_time: EventTime | None = None
    entities: dict[str, list[str]] = Field(
        default_factory=dict, description="entity name -> key columns (composite allowed)")
    amount: str | None = None
    label: LabelSpec | None = None
    features: FeatureSelection = Field(default_factory=FeatureSelection)
    series: list[str] = Field(default_factory=list, description="series key columns")
    target: str | None = None
    price: str | None = Field(None, description="a price column: price-ratio features")
    known: list[str] = Field(default_factory=list, description="covariates known in advance")
    unknown: list[str] = Field(default_factory=list, description="covariates observed only")
    missing_rows: Literal["gap", "zero"] = Field(
        "gap", description="a series without a row on an open day: a gap (counted and logged) "
        "or a target of zero (feeds that export only non-zero sales)")
    monitoring: Monitoring = Field(default_factory=Monitoring)


class Contract(_Strict):
    name: str
    domain: str = Field(description="the domain this dataset feeds (fraud, demand, ...)")
    timezone: str = Field("UTC", description="the business's time zone (IANA name): times "
                          "with an offset are converted to it, times without one are read in "
                          "it, and a row's day is its date there")
    landing_dir: str
    format: Literal["csv", "parquet", "auto"] = "auto"
    key: list[str]
    columns: dict[str, ColumnSpec]
    extra_columns: ExtraColumns = Field(default_factory=ExtraColumns)
    roles: Roles = Field(default_factory=Roles)
    calendar: CalendarSpec | None = None
    batch: BatchRules = Field(default_factory=BatchRules)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"timezone {zone!r} is not an IANA time zone (e.g. UTC, "
                             "Europe/Berlin, America/New_York)") from exc
        return zone

    @model_validator(mode="after")
    def _check(self) -> Contract:
        declared = set(self.columns)

        def need(where: str, names: list[str]) -> None:
            missing = [n for n in names if n not in declared]
            if missing:
                raise ValueError(f"{where} names {missing}, not declared under `columns` "
                                 f"(declared: {sorted(declared)}); declare them or fix the name")

        need("key", self.key)
        need("batch.mean_between", list(self.batch.mean_between))
        r = self.roles
        need("roles.id", r.id)
        if r.event_time is not None:
            need("roles.event_time", r.event_time.sources)
            et = r.event_time
            if et.unit and self.columns[str(et.column)].dtype not in ("int64", "float64"):
                raise ValueError(f"roles.event_time: `unit: {et.unit}` needs a numeric column, "
                                 f"{et.column} is {self.columns[str(et.column)].dtype}")
            if not et.derived and self.columns[str(et.column)].dtype not in ("date", "datetime"):
                raise ValueError(f"roles.event_time: {et.column} is "
                                 f"{self.columns[str(et.column)].dtype}; give `unit: s|ms` for "
                                 "an epoch/offset clock or declare it date/datetime")
        for name, cols in r.entities.items():
            if not cols:
                raise ValueError(f"roles.entities.{name}: list at least one column")
            need(f"roles.entities.{name}", cols)
        need("roles.amount", [r.amount] if r.amount else [])
        need("roles.series", r.series)
        need("roles.target", [r.target] if r.target else [])
        need("roles.price", [r.price] if r.price else [])
        need("roles.known", r.known)
        need("roles.unknown", r.unknown)
        if r.label is not None and r.label.column:
            need("roles.label.column", [r.label.column])
        if r.label is not None and not r.id:
            raise ValueError("roles.label needs roles.id (which event a label belongs to)")
        if r.label is not None and r.event_time is None:
            raise ValueError("roles.label needs roles.event_time")
        if bool(r.series) != bool(r.target):
            raise ValueError("roles: a forecasting dataset needs both `series` and `target`")
        if r.series and r.label is not None:
            raise ValueError("roles: give either `label` (classification) or `series` + "
                             "`target` (forecasting), not both")
        self._check_types()
        for pattern in r.features.include + r.features.categorical:
            if pattern != "*" and not any(fnmatch.fnmatchcase(c, pattern) for c in declared) \
                    and not self.extra_columns.keep:
                raise ValueError(f"roles.features names {pattern!r}, which matches no declared "
                                 "column; declare it or keep it with `extra_columns.keep`")
        return self

    def _check_types(self) -> None:
        """Roles whose column types cannot work, and names lakeloop reserves, fail on load."""
        r, cols = self.roles, self.columns

        def dtype(c: str) -> str:
            return cols[c].dtype

        for role, name in (("amount", r.amount), ("target", r.target), ("price", r.price)):
            if name and dtype(name) not in NUMERIC:
                raise ValueError(f"roles.{role}: {name} is {dtype(name)}; it must be int64 or "
                                 "float64")
        for role, names in (("known", r.known), ("unknown", r.unknown)):
            bad = [c for c in names if dtype(c) not in (*NUMERIC, "bool")]
            if bad:
                raise ValueError(f"roles.{role}: {bad} must be numeric or bool (a text "
                                 "covariate: declare its codes as a number)")
        et = r.event_time
        if et is not None and et.date is not None:
            if dtype(et.date) != "date":
                raise ValueError(f"roles.event_time.date: {et.date} is {dtype(et.date)}, "
                                 "declare it `dtype: date`")
            if dtype(str(et.time)) != "string":
                raise ValueError(f"roles.event_time.time: {et.time} must be a string column "
                                 "(parsed with `time_format`)")
        if r.label is not None and et is not None and not et.derived \
                and dtype(str(et.column)) != "datetime":
            raise ValueError(f"roles.event_time: {et.column} is a date, but a classification "
                             "dataset needs the time of day (1h/24h windows): a datetime, an "
                             "epoch clock or `date` + `time`")
        if self.kind is not None:
            clash = sorted(set(cols) & RESERVED[self.kind])
            if et is not None and not et.derived:
                clash = [c for c in clash if c != et.column]
            if clash:
                raise ValueError(f"columns {clash} use names lakeloop gives its own derived "
                                 "columns; rename them (e.g. `my_{0}: {{source: {0}}}`)"
                                 .format(clash[0]))
        sources = [spec.source or name for name, spec in cols.items()]
        dup = sorted({x for x in sources if sources.count(x) > 1})
        if dup:
            raise ValueError(f"landing columns {dup} are mapped by more than one declared "
                             "column (`source`); one column, several roles: use roles instead")
        if self.calendar is not None:
            BusinessCalendar(self.calendar)  # bad country, dates, every day closed: fail now

    # -- reading --------------------------------------------------------------------------
    @property
    def kind(self) -> Literal["classification", "forecast"] | None:
        if self.roles.label is not None:
            return "classification"
        if self.roles.series:
            return "forecast"
        return None

    def column_docs(self) -> dict[str, str]:
        """Column -> the line the UI shows for it (``ColumnSpec.summary``); key columns say
        so."""
        return {name: spec.summary() + ("; key" if name in self.key else "")
                for name, spec in self.columns.items()}

    def source_name(self, column: str) -> str:
        spec = self.columns.get(column)
        return (spec.source if spec else None) or column

    def role_columns(self) -> set[str]:
        """Columns another role than ``features`` uses (not features unless asked for)."""
        r = self.roles
        out = {*r.id, *r.series, *r.known, *r.unknown, *(c for cs in r.entities.values()
                                                          for c in cs)}
        out |= {c for c in (r.amount, r.target, r.price) if c}
        if r.event_time is not None:
            out |= {*r.event_time.sources, r.event_time.output}
        if r.label is not None and r.label.column:
            out.add(r.label.column)
        return out

    def feature_columns(self, available: list[str]) -> list[str]:
        """The declared feature columns among ``available`` (bronze columns), in order.

        ``"*"`` in ``include`` means every column no other role claims; a name listed
        explicitly is a feature even if another role uses it too (a card column can be an
        entity key *and* a categorical feature)."""
        f, taken = self.roles.features, self.role_columns()
        out = []
        for c in available:
            explicit = any(p != "*" and fnmatch.fnmatchcase(c, p) for p in f.include)
            wildcard = "*" in f.include and c not in taken
            if (explicit or wildcard) and not matches(c, f.exclude):
                out.append(c)
        label = self.roles.label.column if self.roles.label else None
        return [c for c in out if c != label and not c.startswith("_")]

    def is_categorical(self, column: str, dtype_is_numeric: bool) -> bool:
        return matches(column, self.roles.features.categorical) or not dtype_is_numeric


def matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (typo? see lakeloop/contracts/__init__.py for the fields)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        lines.append(f"{where}: {msg}")
    return "; ".join(lines)


def load_contract_file(path: Path) -> Contract:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ContractError(f"contract {path}: cannot read it as YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise ContractError(f"contract {path}: expected a mapping of fields at the top level")
    try:
        contract = Contract.model_validate(raw)
    except ValidationError as exc:
        raise ContractError(f"contract {path}: {_explain(exc)}") from exc
    if contract.name != path.stem:
        raise ContractError(f"contract {path}: `name: {contract.name}` differs from the file "
                            f"name; rename the file to {contract.name}.yaml or fix `name`")
    return contract


def contract_files(contracts_dir: Path | None) -> dict[str, Path]:
    """Contract name -> file: the built-ins, replaced by a team's folder when one is given.

    A team's folder replaces the built-ins entirely (its domains are the only ones), so a
    sales-only team does not inherit the built-in fraud datasets."""
    folder = contracts_dir if contracts_dir is not None else BUILTIN_DIR
    if not folder.is_dir():
        raise ContractError(f"contracts folder {folder} does not exist (LAKELOOP_CONTRACTS?)")
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


@cache
def load_contract(name: str, contracts_dir: Path | None = None) -> Contract:
    """The contract ``name`` from ``contracts_dir`` (or the built-ins when None)."""
    files = contract_files(contracts_dir)
    if name not in files:
        raise ContractError(f"no contract named {name!r} in {contracts_dir or BUILTIN_DIR} "
                            f"(found: {sorted(files)})")
    return load_contract_file(files[name])
