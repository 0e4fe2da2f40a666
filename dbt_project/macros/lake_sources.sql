{#- The raw sources on each engine (an on-run-start hook, dbt_project.yml).

    DuckDB: the sources are the warehouse's own raw.* tables; nothing to do.
    Spark: the sources are external Parquet tables over the landing zone that
    warehouse/lake.py writes (docs/architecture.md, "The landing zone"). Each build drops
    and re-creates them (dropping an external table leaves its files alone) with the
    columns and types the source YAMLs declare, so a table with no file yet (no crawl
    published) still has its columns, and registers the partitions that exist now.

    The lake's root: the variable tunehouse_lake (the CLI and Dagster pass it), else
    TUNEHOUSE_LAKE, else the default lake of the default warehouse. Returns a no-op
    statement because a hook must be SQL. -#}
{% macro create_lake_sources() -%}
    {{ return(adapter.dispatch('create_lake_sources')()) }}
{%- endmacro %}

{% macro default__create_lake_sources() -%}
    select 1 as lake_sources_checked
{%- endmacro %}

{#- Hive partition columns of the lake (warehouse/lake.py: files per load, per crawl date). -#}
{% macro lake_partitions() -%}
    {{ return({'kaggle_tracks': ('load_id', 'int'), 'youtube_snapshots': ('crawl_date', 'date'),
              'channel_snapshots': ('crawl_date', 'date')}) }}
{%- endmacro %}

{% macro lake_root() -%}
    {{ return(var('tunehouse_lake', env_var('TUNEHOUSE_LAKE', '../data/lake/tunehouse')).rstrip('/')) }}
{%- endmacro %}

{% macro spark__create_lake_sources() -%}
    {%- if execute -%}
        {%- set root = lake_root() -%}
        {%- set partitions = lake_partitions() -%}
        {%- set schemas = [] -%}
        {%- for source in graph.sources.values() if source.package_name == project_name -%}
            {%- if source.schema not in schemas -%}
                {%- do schemas.append(source.schema) -%}
                {%- do run_query('create database if not exists ' ~ source.schema) -%}
            {%- endif -%}
            {%- set columns = [] -%}
            {%- set partition = partitions.get(source.name) -%}
            {%- for column in source.columns.values() if not partition or column.name != partition[0] -%}
                {%- if not column.data_type -%}
                    {%- do exceptions.raise_compiler_error("source " ~ source.source_name ~ "." ~ source.name ~ ": column " ~ column.name ~ " has no data_type (Spark reads the lake with the declared types)") -%}
                {%- endif -%}
                {%- do columns.append('`' ~ column.name ~ '` ' ~ column.data_type) -%}
            {%- endfor -%}
            {%- if not columns -%}
                {%- do exceptions.raise_compiler_error("source " ~ source.source_name ~ "." ~ source.name ~ " declares no columns (Spark reads the lake with the declared types)") -%}
            {%- endif -%}
            {%- if partition -%}
                {%- do columns.append('`' ~ partition[0] ~ '` ' ~ partition[1]) -%}
            {%- endif -%}
            {%- set relation = source.schema ~ '.' ~ source.identifier -%}
            {%- do run_query('drop table if exists ' ~ relation) -%}
            {%- do run_query(
                'create table ' ~ relation ~ ' (' ~ columns | join(', ') ~ ') using parquet'
                ~ (' partitioned by (`' ~ partition[0] ~ '`)' if partition else '')
                ~ " location '" ~ root ~ '/' ~ source.schema ~ '/' ~ source.identifier ~ "'"
            ) -%}
            {%- if partition -%}
                {%- do run_query('msck repair table ' ~ relation) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    select 1 as lake_sources_checked
{%- endmacro %}
