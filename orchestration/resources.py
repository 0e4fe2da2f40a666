"""Dagster resources: every outside thing an asset touches comes through one of these.

`orchestration.definitions.build_definitions(settings)` builds each of them from one
explicit `Settings`; nothing here reads the environment except through `dg.EnvVar`
(the YouTube API key, resolved by Dagster when the crawl step starts and never shown).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from warehouse import read_connection, write_connection

if TYPE_CHECKING:
    from ingestion.youtube import CrawlOptions
    from ml.options import TrainOptions


class WarehouseResource(DuckDBResource):
    """The tunehouse DuckDB file.

    A DuckDBResource whose connections retry while another process holds the write
    lock (for up to `lock_timeout_s`). Assets open a connection only for as long as a
    read or a write takes.
    """

    lock_timeout_s: float = Field(
        default=60.0, description="How long to retry while another process holds the DuckDB write lock."
    )

    @property
    def path(self) -> Path:
        return Path(self.database)

    @contextmanager
    def write_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with write_connection(self.path, timeout_s=self.lock_timeout_s) as con:
            yield con

    @contextmanager
    def read_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with read_connection(self.path, timeout_s=self.lock_timeout_s) as con:
            yield con

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:  # DuckDBResource's API
        with self.write_connection() as con:
            yield con


class KaggleSourceResource(dg.ConfigurableResource):
    """Where raw/kaggle_tracks comes from: a Kaggle CSV, else a generated sample."""

    csv_path: str | None = Field(
        default=None, description="A Kaggle 'Spotify and Youtube' CSV; unset: the built-in synthetic sample."
    )
    sample_rows: int = Field(default=3000, description="Rows of the synthetic sample.")
    sample_seed: int = Field(default=7, description="Seed of the synthetic sample.")
    max_shrink: float = Field(
        default=0.10, description="Largest share of the current load's rows a new load may lose (else: rejected)."
    )


class YouTubeApiResource(dg.ConfigurableResource):
    """The YouTube Data API v3 a crawl talks to.

    `api_key` is bound to `dg.EnvVar("YOUTUBE_API_KEY")` by the definitions (the UI shows
    the variable's name, never its value); the demo binds the local emulator's literal
    key, which is not a secret.
    """

    api_key: str | None = Field(default=None, description="YouTube Data API v3 key (from YOUTUBE_API_KEY).")
    base_url: str = Field(
        default="https://www.googleapis.com/youtube/v3", description="API base URL (the emulator's in demos)."
    )
    daily_budget: int = Field(default=10_000, description="Quota units crawls may spend per API day (Pacific).")
    concurrency: int = Field(default=4, description="videos.list calls in flight.")
    max_not_found_jump: float = Field(
        default=0.05, description="Rise of the not-found share over the previous published crawl that rejects a crawl."
    )

    def crawl_options(
        self, *, base_url: str | None = None, daily_budget: int | None = None, concurrency: int | None = None,
        fresh: bool = False,
    ) -> CrawlOptions:
        """CrawlOptions from this resource, with per-run overrides (None keeps the resource's value)."""
        from ingestion.youtube import CrawlOptions

        return CrawlOptions(
            base_url=base_url or self.base_url,
            daily_budget=daily_budget or self.daily_budget,
            concurrency=concurrency or self.concurrency,
            fresh=fresh,
            max_not_found_jump=self.max_not_found_jump,
        )


class ReportsResource(dg.ConfigurableResource):
    """The reports folder (HTML report, figures, dbt docs) and, under `tunehouse ui`, its URL."""

    reports_dir: str = Field(description="Where the HTML report, the figures and the dbt docs go.")
    url: str | None = Field(
        default=None,
        description="Where `tunehouse ui` serves the reports folder over HTTP (TUNEHOUSE_REPORTS_URL); unset: no links.",
    )

    def url_of(self, relative: Path | str) -> str:
        """The URL of a file of the reports folder (`url` must be set)."""
        if not self.url:
            raise ValueError("the reports folder is not served (TUNEHOUSE_REPORTS_URL is unset)")
        return self.url.rstrip("/") + "/" + Path(relative).as_posix()


class MLResource(dg.ConfigurableResource):
    """Every knob of a family run that is not per-run config (`ml.options.TrainOptions`)."""

    reports_dir: str = Field(description="Where plots, models and the HTML report go.")
    seed: int = Field(default=42, description="Seed of every split, model and sweep.")
    cv_folds: int = Field(default=5, description="Folds of the honest protocol's grouped CV.")
    optuna_trials: int = Field(default=10, description="Optuna trials added per tuning run.")
    tsne_rows: int = Field(default=2000, description="Rows (seeded sample) shown in the t-SNE view.")
    torch_threads: int = Field(default=1, description="CPU threads per process for the deep models.")
    tabpfn_model_path: str | None = Field(default=None, description="TabPFN checkpoint file or folder.")
    official_only: bool = Field(default=True, description="Train on official music videos only.")
    children: Literal["flag", "exclude"] = Field(
        default="flag", description="Children's music as a feature ('flag') or left out ('exclude')."
    )
    lock_timeout_s: float | None = Field(
        default=None, description="How long a write to ml.* waits for the DuckDB lock (unset: the default)."
    )

    def train_options(self, **overrides: Any) -> TrainOptions:
        """TrainOptions from this resource; per-run overrides that are None are ignored."""
        from ml.options import TrainOptions

        values: dict[str, Any] = {
            "reports_dir": Path(self.reports_dir),
            "seed": self.seed,
            "cv_folds": self.cv_folds,
            "optuna_trials": self.optuna_trials,
            "tsne_rows": self.tsne_rows,
            "torch_threads": self.torch_threads,
            "tabpfn_model_path": Path(self.tabpfn_model_path) if self.tabpfn_model_path else None,
            "official_only": self.official_only,
            "children": self.children,
            "lock_timeout_s": self.lock_timeout_s,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return TrainOptions(**values)


class DbtEngineResource(dg.ConfigurableResource):
    """The engine the dbt assets build on (`orchestration.engine`): the same asset graph on both."""

    target: Literal["duckdb", "spark"] = Field(
        default="duckdb", description="duckdb (the warehouse file) or spark (a local Spark over the lake)."
    )


class LakeResource(dg.ConfigurableResource):
    """The Parquet landing zone (`warehouse.lake`): the published raw data, for Spark and other engines."""

    path: str = Field(description="The lake's root folder (TUNEHOUSE_LAKE).")

    def prepare(self, context: dg.AssetExecutionContext, target: str, warehouse: WarehouseResource) -> None:
        """Bring the lake up to date before a dbt build on `target` (`orchestration.engine.prepare`).

        On Spark a failure stops the build (Spark reads the lake); on DuckDB it is a warning
        (the build reads the warehouse, and the next build exports again)."""
        from orchestration.engine import EngineError, check_target, prepare
        from warehouse.connection import WarehouseError
        from warehouse.lake import LakeError

        try:
            result = prepare(check_target(target), warehouse.path, self.path, warehouse.lock_timeout_s)
        except (EngineError, LakeError, WarehouseError) as exc:
            if target == "duckdb" and not isinstance(exc, EngineError):
                context.log.warning(f"landing zone not updated: {exc}")
                return
            raise dg.Failure(str(exc)) from None
        context.log.info(result.summary())
