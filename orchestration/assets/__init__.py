"""Dagster asset definitions, one module per concern.

`kaggle`, `youtube` and `ml` define their assets at import (`ml`'s from the
`ml.families` registry, importing no model code); `dbt.build_dbt_assets` needs the dbt
manifest, which `orchestration.definitions.build_definitions` parses first.
"""
