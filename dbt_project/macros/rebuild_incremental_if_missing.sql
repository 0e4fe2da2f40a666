{#- An incremental model's stored table that lacks `column` was built by an older version
    of the model (e.g. fct_video_snapshots and video_growth before publish_seq, issue #9):
    drop it when `dbt run`/`dbt build` compiles the model, so this build creates it from
    scratch instead of failing on the schema change (on_schema_change='fail') or mixing
    rows built under the old rules. Call it first in the model, before is_incremental().
    Nothing happens at parse time, in `dbt compile`/`show`, or for unit tests. -#}
{% macro rebuild_incremental_if_missing(column) %}
    {%- if execute and flags.WHICH in ('run', 'build') and model.resource_type == 'model' -%}
        {%- set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) -%}
        {%- if existing is not none and existing.is_table -%}
            {%- set names = adapter.get_columns_in_relation(existing) | map(attribute='name') | map('lower') | list -%}
            {%- if column | lower not in names -%}
                {%- do log("Rebuilding " ~ existing ~ " from scratch: built before it had the column " ~ column, info=true) -%}
                {%- do adapter.drop_relation(existing) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
