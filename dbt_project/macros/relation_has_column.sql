{#- Whether `relation` has `column`. Looked up only when dbt runs (at parse time: true), so
    the compiled SQL follows the warehouse it runs against; e.g. the YouTube staging models
    read a warehouse from before write-audit-publish (raw.crawl_runs without published_at)
    until a crawl or a load adds the columns (warehouse/ddl/20_youtube.sql). -#}
{% macro relation_has_column(relation, column) %}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set names = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    {{ return(column | lower in names) }}
{% endmacro %}
