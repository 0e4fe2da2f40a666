"""Every knob one family run needs, passed explicitly (library code reads no settings).

Entry points (CLI, Dagster definitions, benchmarks, tests) build a :class:`TrainOptions`
with :meth:`TrainOptions.from_settings` or directly; the families and the pipeline only
read it. Light on purpose: importing it pulls in no numpy, sklearn or torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from ml.protocol import Protocol

ALL_PROTOCOLS: tuple[Protocol, ...] = (Protocol.REPLICATION, Protocol.HONEST)


@dataclass(frozen=True)
class TrainOptions:
    """Options of one training invocation (one family run, or several).

    ``only`` names models *within* a family (None = all of them); ``budget`` overrides
    fields of :class:`ml.deep.budget.DeepBudget` (e.g. ``{"tabnet_epochs": 2}``).
    ``lock_timeout_s`` is how long a write to ``ml.*`` waits for the DuckDB lock
    (None: the warehouse default).
    """

    reports_dir: Path
    seed: int = 42
    protocols: tuple[Protocol, ...] = ALL_PROTOCOLS
    only: frozenset[str] | None = None
    cv_folds: int = 5
    optuna_trials: int = 10
    tsne_rows: int = 2000
    torch_threads: int = 1
    tabpfn_model_path: Path | None = None
    official_only: bool = True
    children: Literal["flag", "exclude"] = "flag"
    budget: Mapping[str, Any] = field(default_factory=dict, hash=False)
    lock_timeout_s: float | None = None

    def __post_init__(self) -> None:
        # Normalise what callers may pass loosely (strings, lists), so every reader sees one type.
        set_ = object.__setattr__
        set_(self, "reports_dir", Path(self.reports_dir))
        protocols = (self.protocols,) if isinstance(self.protocols, str) else self.protocols
        set_(self, "protocols", tuple(Protocol(p) for p in protocols))
        if not self.protocols:
            raise ValueError("protocols: at least one of 'replication', 'honest'")
        if self.only is not None:
            only = (self.only,) if isinstance(self.only, str) else self.only
            set_(self, "only", frozenset(only) or None)
        if self.tabpfn_model_path is not None:
            set_(self, "tabpfn_model_path", Path(self.tabpfn_model_path))
        if self.children not in ("flag", "exclude"):
            raise ValueError(f"children must be 'flag' or 'exclude', not {self.children!r}")
        if self.cv_folds < 2:
            raise ValueError(f"cv_folds must be >= 2, got {self.cv_folds}")
        set_(self, "budget", dict(self.budget or {}))

    @classmethod
    def from_settings(cls, settings, **overrides) -> TrainOptions:
        """Options from a ``tunehouse.settings.Settings``; overrides that are None are ignored."""
        values: dict[str, Any] = {
            "reports_dir": settings.reports_dir,
            "seed": settings.ml_seed,
            "cv_folds": settings.ml_cv_folds,
            "optuna_trials": settings.ml_optuna_trials,
            "tsne_rows": settings.ml_tsne_rows,
            "torch_threads": settings.ml_torch_threads,
            "tabpfn_model_path": settings.tabpfn_model_path,
            "official_only": settings.ml_official_only,
            "children": settings.ml_children,
            "lock_timeout_s": settings.lock_timeout_s,
        }
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown TrainOptions field(s): {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_only(self, models: Iterable[str] | None) -> TrainOptions:
        """The same options restricted to these models of a family (None = all)."""
        return replace(self, only=None if models is None else frozenset(models))

    def wants(self, model: str) -> bool:
        """Whether ``model`` is selected (``only`` unset selects every model)."""
        return self.only is None or model in self.only

    def deep_budget(self):
        """The deep budgets: :class:`~ml.deep.budget.DeepBudget` defaults plus ``budget``."""
        from ml.deep.budget import DeepBudget

        return DeepBudget(**self.budget)
