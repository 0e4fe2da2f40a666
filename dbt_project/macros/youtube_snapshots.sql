{#- Helpers for the YouTube snapshot models. -#}

{#- When the Kaggle dataset was crawled (≈ February 2023): the baseline moment of every
    "since Kaggle" delta. Override with --vars '{kaggle_observed_at: "..."}'. The local
    emulator starts its curves at the same moment (ingestion/youtube/emulator/universe.py). -#}
{% macro kaggle_observed_at() -%}
    cast('{{ var("kaggle_observed_at", "2023-02-07 00:00:00") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- A time-zone-aware column as a plain UTC timestamp, so that date parts and differences
    do not depend on the session time zone. -#}
{% macro to_utc_timestamp(column) -%}
    {{ return(adapter.dispatch('to_utc_timestamp')(column)) }}
{%- endmacro %}

{% macro default__to_utc_timestamp(column) -%}
    to_utc_timestamp({{ column }}, 'UTC')
{%- endmacro %}

{% macro duckdb__to_utc_timestamp(column) -%}
    ({{ column }} at time zone 'UTC')
{%- endmacro %}

{#- Fractional days from one timestamp to another, as a double on every engine (Spark's
    datediff would otherwise give a decimal with 7 places, DuckDB a double). -#}
{% macro days_between(first_ts, second_ts) -%}
    (cast({{ dbt.datediff(first_ts, second_ts, "second") }} as double) / 86400)
{%- endmacro %}
