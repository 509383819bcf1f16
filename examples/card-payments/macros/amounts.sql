{% macro is_large(column) %}{{ column }} >= {{ var("large_amount") }}{% endmacro %}
