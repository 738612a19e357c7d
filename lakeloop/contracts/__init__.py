"""Dataset contracts: each dataset's schema, roles and rules in one declarative YAML.

Ingest (schema enforcement), validation (the GX suites) and features read column names and
rules from here, so bringing another team's data is a contract edit plus a column mapping.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

DType = Literal["string", "int64", "float64", "bool", "date", "datetime"]
Role = Literal[
    "id", "timestamp", "event_date", "entity", "series", "amount", "label", "target",
    "categorical", "price", "known",
]
BUILTIN_DIR = Path(__file__).parent


class ContractError(ValueError):
    """A contract file that cannot be used."""


class ColumnSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dtype: DType
    source: str | None = Field(None, description="column name in the landing file, if not ours")
    role: Role | None = None
    nullable: bool = True
    allowed: list[str] | None = None
    min: float | None = None
    max: float | None = None
    format: str | None = Field(None, description="strptime format for date/datetime text")


class BatchRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_rows: int = 1
    min_rows_vs_recent_median: float | None = 0.3
    recent_days: int = 7
    mean_between: dict[str, tuple[float, float]] = Field(default_factory=dict)
    max_bad_row_fraction: float = 0.05
    max_unparseable_fraction: float = 0.5


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    landing_dir: str
    format: Literal["csv", "parquet", "auto"] = "auto"
    key: list[str]
    columns: dict[str, ColumnSpec]
    batch: BatchRules = Field(default_factory=BatchRules)

    @model_validator(mode="after")
    def _check(self) -> Contract:
        missing = [k for k in self.key if k not in self.columns]
        if missing:
            raise ValueError(f"key columns {missing} are not declared under columns")
        for col in self.batch.mean_between:
            if col not in self.columns:
                raise ValueError(f"batch.mean_between names undeclared column {col!r}")
        return self

    def source_name(self, column: str) -> str:
        return self.columns[column].source or column

    def with_role(self, role: Role) -> list[str]:
        return [name for name, spec in self.columns.items() if spec.role == role]


def load_contract_file(path: Path) -> Contract:
    try:
        raw = yaml.safe_load(path.read_text())
        return Contract.model_validate(raw)
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise ContractError(f"contract {path}: {exc}") from exc


@cache
def load_contract(name: str, contracts_dir: Path | None = None) -> Contract:
    """The contract for ``name``: ``contracts_dir/name.yaml`` if present, else the built-in."""
    for folder in (contracts_dir, BUILTIN_DIR):
        if folder is not None and (folder / f"{name}.yaml").exists():
            return load_contract_file(folder / f"{name}.yaml")
    raise ContractError(f"no contract named {name!r} (looked in {contracts_dir} and built-ins)")
