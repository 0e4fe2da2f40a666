{#- Land models in the schema they name (raw, staging, marts), not <target>_<schema>.
    With the variable audit_schema_prefix (the Kaggle load's audit, ingestion/publish.py)
    every schema gets that prefix: audit_kaggle_staging, …, so an audit build never
    touches the relations downstream models and users read. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ var('audit_schema_prefix', '') }}{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
