"""Domains: the datasets of one use case (fraud, demand, a third), resolved from contracts.

A domain is its *main* dataset (the one whose contract has roles: a ``label`` for a
classification domain, ``series`` + ``target`` for a forecasting one), an optional reported-
labels dataset, and the main dataset's calendar. Which domains run is configuration
(``LAKELOOP_DOMAINS``); everything downstream (assets, jobs, schedules, sensors) is built per
enabled domain, so a sales-only team never sees a fraud step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lakeloop import names
from lakeloop.contracts import (
    CalendarSpec,
    Contract,
    ContractError,
    contract_files,
    load_contract,
)
from lakeloop.names import Kind


@dataclass(frozen=True)
class Domain:
    name: str
    kind: Kind
    main: Contract
    labels: Contract | None = None  # reported-labels dataset (classification only)

    @property
    def datasets(self) -> list[Contract]:
        return [self.main, *([self.labels] if self.labels else [])]

    @property
    def calendar(self) -> CalendarSpec | None:
        return self.main.calendar

    # the domain's names (``lakeloop.names``), at hand
    @property
    def features_asset(self) -> str:
        return names.features_asset(self.name)

    @property
    def features_table(self) -> str:
        return names.features_table(self.name)

    @property
    def predictions_asset(self) -> str:
        return names.predictions_asset(self.name, self.kind)

    @property
    def predictions_table(self) -> str:
        return names.predictions_table(self.name, self.kind)


def _resolve(name: str, contracts: list[Contract], where: Path | str) -> Domain:
    mains = [c for c in contracts if c.kind is not None]
    if len(mains) != 1:
        found = [c.name for c in mains] or "none"
        raise ContractError(
            f"domain {name!r} in {where}: needs exactly one main dataset with roles (a `label`, "
            f"or `series` + `target`), found {found}")
    main = mains[0]
    labels = None
    label = main.roles.label
    if label is not None and label.dataset is not None:
        named = {c.name: c for c in contracts}
        if label.dataset not in named:
            raise ContractError(
                f"contract {main.name}: roles.label.dataset {label.dataset!r} is not a dataset "
                f"of domain {name!r} (give its contract `domain: {name}`)")
        labels = named[label.dataset]
        missing = [c for c in main.roles.id if c not in labels.columns]
        if missing:
            raise ContractError(
                f"contract {labels.name}: must declare {missing} (the id columns of "
                f"{main.name}) so a label can be matched to its event")
    extra = [c.name for c in contracts if c is not main and c is not labels]
    if extra:
        raise ContractError(f"domain {name!r}: datasets {extra} have no role in it (neither "
                            "main nor labels); remove them or give them another domain")
    return Domain(name, main.kind, main, labels)  # type: ignore[arg-type]


def load_domains(contracts_dir: Path | None = None, enabled: list[str] | None = None
                 ) -> dict[str, Domain]:
    """The enabled domains (all found when ``enabled`` is None), validated across contracts."""
    by_domain: dict[str, list[Contract]] = {}
    for name in contract_files(contracts_dir):
        contract = load_contract(name, contracts_dir)
        by_domain.setdefault(contract.domain, []).append(contract)
    where = contracts_dir or "the built-in contracts"
    if enabled is not None:
        unknown = [d for d in enabled if d not in by_domain]
        if unknown:
            raise ContractError(f"LAKELOOP_DOMAINS names {unknown}, not a domain of any "
                                f"contract in {where} (found: {sorted(by_domain)})")
    names = sorted(by_domain) if enabled is None else list(enabled)
    return {n: _resolve(n, by_domain[n], where) for n in names}
