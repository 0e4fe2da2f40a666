"""The one source of configuration: environment variables (or a .env file), read by pydantic.

Every setting is documented in README.md ("Configuration"). An entry point (the CLI, the
Dagster definitions, a benchmark) builds one `Settings` with `load_settings(**overrides)`
and passes what each component needs explicitly; nothing else reads or writes the
environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DEFAULT_WAREHOUSE = PROJECT_ROOT / "data" / "tunehouse.duckdb"


def default_reports_dir(warehouse: Path | str) -> Path:
    """The reports folder of a warehouse when TUNEHOUSE_REPORTS_DIR is not set.

    ``data/tunehouse.duckdb`` → ``data/reports/tunehouse/``: beside the warehouse it
    describes, and named after it, so two warehouses in one folder keep separate reports.
    """
    warehouse = Path(warehouse)
    return warehouse.parent / "reports" / warehouse.stem


def default_dagster_home(warehouse: Path | str) -> Path:
    """The Dagster instance (run history) of a warehouse when DAGSTER_HOME is not set.

    ``data/tunehouse.duckdb`` → ``data/dagster/tunehouse/``: one run history per warehouse,
    so the UI of one warehouse never shows the runs (or the "latest materialization") of
    another, e.g. a scratch warehouse's.
    """
    warehouse = Path(warehouse)
    return warehouse.parent / "dagster" / warehouse.stem


def default_lake_dir(warehouse: Path | str) -> Path:
    """The landing zone of a warehouse when TUNEHOUSE_LAKE is not set.

    ``data/tunehouse.duckdb`` → ``data/lake/tunehouse/``: the lake mirrors one warehouse's
    published raw data, so two warehouses in one folder never export into the same lake.
    """
    warehouse = Path(warehouse)
    return warehouse.parent / "lake" / warehouse.stem


def spark_dir(warehouse: Path | str) -> Path:
    """Where the Spark target keeps its Derby metastore and table files, beside the warehouse.

    ``data/tunehouse.duckdb`` → ``data/spark/tunehouse/`` (``metastore_db/``, ``warehouse/``).
    """
    warehouse = Path(warehouse)
    return warehouse.parent / "spark" / warehouse.stem


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TUNEHOUSE_", env_file=".env", extra="ignore", populate_by_name=True
    )

    warehouse: Path = Field(
        default=DEFAULT_WAREHOUSE,
        description="The DuckDB file that holds every schema (raw, staging, marts, ml).",
    )
    csv: Path | None = Field(
        default=None,
        description="A Kaggle 'Spotify and Youtube' CSV; unset means the built-in synthetic sample.",
    )
    sample_rows: int = Field(default=3000, ge=50, description="Rows of the synthetic sample.")
    sample_seed: int = Field(default=7, description="Seed of the synthetic sample.")
    kaggle_max_shrink: float = Field(
        default=0.10,
        ge=0.0,
        le=1.0,
        description="Largest share of the current Kaggle load's rows a new load may lose; a load that loses "
        "more is rejected as probably truncated (`tunehouse ingest --allow-shrink` accepts it).",
    )
    reports_dir: Path = Field(
        # Computed from the (already validated) warehouse field: each warehouse gets its own
        # folder, so a report built from one warehouse never overwrites another's.
        # (pydantic does not call it when the warehouse itself failed validation.)
        default_factory=lambda data: default_reports_dir(data["warehouse"]),
        description="Where plots, models and HTML reports go "
        "(default: <warehouse dir>/reports/<warehouse file name without .duckdb>/).",
    )
    dagster_home: Path = Field(
        # Like reports_dir: computed from the warehouse, so each warehouse has its own history.
        default_factory=lambda data: default_dagster_home(data["warehouse"]),
        validation_alias=AliasChoices("TUNEHOUSE_DAGSTER_HOME", "DAGSTER_HOME"),
        description="Dagster's instance folder (run history); the CLI and `tunehouse ui` use the same one "
        "(default: <warehouse dir>/dagster/<warehouse file name without .duckdb>/).",
    )
    reports_url: str | None = Field(
        default=None,
        description="Where the reports folder is served over HTTP (set by `tunehouse ui` for its Dagster UI, "
        "which links the HTML report and the dbt docs there); unset: no links, only paths.",
    )
    lock_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="How long to keep retrying when another process holds the DuckDB write lock.",
    )
    lake: Path = Field(
        # Like reports_dir: one landing zone per warehouse (it mirrors that warehouse's raw data).
        default_factory=lambda data: default_lake_dir(data["warehouse"]),
        description="The Parquet landing zone: the published raw tables, for Spark and other engines "
        "(default: <warehouse dir>/lake/<warehouse file name without .duckdb>/).",
    )
    dbt_target: Literal["duckdb", "spark"] = Field(
        default="duckdb",
        description="The engine dbt builds on: 'duckdb' (the warehouse file) or 'spark' (a local Spark over the lake).",
    )

    # Machine learning (ml/): dataset filters, seeds and tuning bounds
    ml_seed: int = Field(default=42, description="Seed of every ML split, model and sweep (the report used 42).")
    ml_official_only: bool = Field(
        default=True, description="Train on official music videos only, as the report did."
    )
    ml_children: Literal["flag", "exclude"] = Field(
        default="flag",
        description="Children's music (the is_children flag): keep it as a feature ('flag') or drop those rows ('exclude').",
    )
    ml_cv_folds: int = Field(default=5, ge=2, le=20, description="Folds of the honest protocol's grouped CV.")
    ml_optuna_trials: int = Field(default=10, ge=1, description="Optuna trials added per tuning run.")
    ml_tsne_rows: int = Field(default=2000, ge=100, description="Rows (seeded sample) shown in the t-SNE view.")
    ml_torch_threads: int = Field(
        default=1,
        ge=1,
        le=256,
        description="CPU threads per process for the deep models (small tabular nets train fastest on 1, "
        "and parallel Dagster steps then do not oversubscribe the cores).",
    )
    tabpfn_model_path: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TABPFN_MODEL_PATH", "TUNEHOUSE_TABPFN_MODEL_PATH"),
        description="TabPFN checkpoint file, or a folder with TabPFN's default checkpoint names; "
        "unset: TabPFN's own cache folder. Without weights the TabPFN runs are stored as skipped.",
    )

    # YouTube crawling (the API key is not a setting: the YouTube resource reads YOUTUBE_API_KEY
    # itself through dg.EnvVar, so it never travels in a Settings object, run config or log)
    youtube_base_url: str = Field(
        default="https://www.googleapis.com/youtube/v3",
        description="Base URL of the YouTube Data API (the local emulator in demos and tests).",
    )
    crawl_daily_budget: int = Field(
        default=10_000, ge=1, description="Quota units a crawl may spend per API day (Pacific)."
    )
    crawl_concurrency: int = Field(default=4, ge=1, le=32, description="Requests in flight.")
    crawl_max_not_found_jump: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="How far a crawl's not-found share (of its videos, and of its channels) may rise above the "
        "previous published crawl's before its audit rejects it (0.05 = 5 points): a wave of 'deleted' videos "
        "is an API fault.",
    )


def load_settings(**overrides) -> Settings:
    """The settings of one invocation: environment (and .env) plus explicit overrides.

    Only entry points call this (the CLI, the Dagster definitions, benchmarks, tests);
    everything below them receives the values it needs as arguments.
    """
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)

