{#- Fails for every value of `key` (nulls skipped) whose rows carry more than one distinct value of the column. -#}
{% test one_value_per_key(model, column_name, key) %}
select {{ key }}, count(distinct {{ column_name }}) as distinct_values
from {{ model }}
where {{ key }} is not null
group by {{ key }}
having count(distinct {{ column_name }}) > 1
{% endtest %}
