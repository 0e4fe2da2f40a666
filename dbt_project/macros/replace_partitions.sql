{#- The incremental write both engines have for "replace these partitions with the rows the
    model returns": the model returns every row of each partition it touches (partition =
    the value of `column`), and the build replaces exactly those partitions.

      DuckDB  delete+insert on `column` (delete the partitions' rows, insert the new ones)
      Spark   insert_overwrite, partition_by `column`, dynamic partition overwrite (plain
              Parquet tables have append and insert_overwrite, not merge; dbt-spark sets
              spark.sql.sources.partitionOverwriteMode=DYNAMIC, under which a model may
              read its own table while it is overwritten)

    Use: {{ config(materialized='incremental', **replace_partitions('crawl_id')) }} -#}
{% macro replace_partitions(column) -%}
    {{ return(adapter.dispatch('replace_partitions')(column)) }}
{%- endmacro %}

{% macro default__replace_partitions(column) -%}
    {{ return({'incremental_strategy': 'delete+insert', 'unique_key': column}) }}
{%- endmacro %}

{% macro spark__replace_partitions(column) -%}
    {{ return({'incremental_strategy': 'insert_overwrite', 'partition_by': [column], 'file_format': 'parquet'}) }}
{%- endmacro %}

{#- A small, stable partition number of a YouTube video id (0-15): the first character's
    code, so DuckDB and Spark agree (their hash functions differ), and never a folder name
    that differs only in case (case-insensitive file systems). -#}
{% macro video_bucket(video_id) -%}
    (ascii(substr({{ video_id }}, 1, 1)) % 16)
{%- endmacro %}
