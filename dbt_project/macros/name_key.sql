{#- A name reduced for comparison: lower case, without spaces and ASCII punctuation (brackets and
    backslash aside: they are special in one engine's regex or the other's string literals), so
    "Ed Sheeran", "edsheeran" and "Ed-Sheeran" are one key (letters of other scripts stay).
    DuckDB's regexp_replace replaces the first match unless told 'g'; Spark's replaces all.
    No backslashes: Spark's SQL string literals would eat them (see youtube_video_id). -#}
{% macro name_key(expression) -%}
    {{ return(adapter.dispatch('name_key')(expression)) }}
{%- endmacro %}

{% macro default__name_key(expression) -%}
    regexp_replace(lower({{ expression }}), '[ !"#$%&''()*+,./:;<=>?@^_`{|}~-]', '')
{%- endmacro %}

{% macro duckdb__name_key(expression) -%}
    regexp_replace(lower({{ expression }}), '[ !"#$%&''()*+,./:;<=>?@^_`{|}~-]', '', 'g')
{%- endmacro %}
