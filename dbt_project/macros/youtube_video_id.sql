{#- The 11-character video id from any common YouTube URL form:
    watch?v=ID (with other query parameters before or after), youtu.be/ID,
    /shorts/ID, /embed/ID, /v/ID, /live/ID. Null when there is none.
    regexp_extract(str, pattern, group) has the same meaning on DuckDB and Spark. The dot of
    youtu.be is written [.], not \.: Spark's SQL string literals drop the backslash of an
    unknown escape, which turned "\." into "any character" there (youtuXbe/… matched). -#}
{% macro youtube_video_id(url) -%}
    nullif(
        regexp_extract(
            {{ url }},
            '(?:[?&]v=|youtu[.]be/|/shorts/|/embed/|/v/|/live/)([A-Za-z0-9_-]{11})(?:[^A-Za-z0-9_-]|$)',
            1
        ),
        ''
    )
{%- endmacro %}
