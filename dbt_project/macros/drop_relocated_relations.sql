{#- Drops what an older layout of this project left behind, so that a warehouse built
    before a model moved or was renamed keeps working after a plain `dbt build`:

    * a relation named like one of this project's models or seeds, in one of the
      project's schemas other than the one the node lands in now (the intermediate models
      were views in `staging` until they got their own schema `intermediate`);
    * the relations of retired models, listed below with the schema they were built in.

    Runs as an on-run-start hook (dbt_project.yml). Only this project's schemas are
    looked at (raw.* and ml.* are never touched) and only exact names are dropped.
    Returns a no-op statement because a hook must be SQL. -#}
{% macro drop_relocated_relations() %}
    {%- if execute -%}
        {%- set retired = [
            {'schema': 'staging', 'name': 'int_kaggle_video_baseline'},
        ] -%}
        {%- set home = {} -%}
        {%- set schemas = [] -%}
        {%- for node in graph.nodes.values()
              if node.resource_type in ('model', 'seed', 'snapshot') and node.package_name == project_name -%}
            {%- do home.update({node.alias: node.schema}) -%}
            {%- if node.schema not in schemas -%}{%- do schemas.append(node.schema) -%}{%- endif -%}
        {%- endfor -%}
        {%- set stale = [] -%}
        {%- for name, schema in home.items() -%}
            {%- for other in schemas if other != schema -%}
                {%- do stale.append({'schema': other, 'name': name}) -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- for old in retired if home.get(old.name) != old.schema -%}
            {%- do stale.append(old) -%}
        {%- endfor -%}
        {%- for old in stale -%}
            {%- set relation = adapter.get_relation(database=target.database, schema=old.schema, identifier=old.name) -%}
            {%- if relation is not none -%}
                {%- do log("Dropping " ~ relation.type ~ " " ~ relation ~ ": left by an older layout of the project", info=true) -%}
                {%- do adapter.drop_relation(relation) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    select 1 as relocated_relations_checked
{%- endmacro %}
