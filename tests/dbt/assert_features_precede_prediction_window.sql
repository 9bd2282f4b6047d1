{#-
    Leakage guard on the built tables: every event a feature or session was computed from lies
    inside the observation window, so none comes from the prediction window the label reads.
    Returns the offending users (none when the guard holds).
-#}

with

features as (

    select
        user_id,
        first_event_at,
        last_event_at
    from {{ ref('slv_user_features') }}

),

sessions as (

    select
        user_id,
        min(session_started_at) as first_event_at,
        max(session_ended_at) as last_event_at
    from {{ ref('slv_user_sessions') }}
    group by user_id

),

checked as (

    select * from features
    union all
    select * from sessions

)

select *
from checked
where
    last_event_at >= {{ window_date('prediction_start') }}
    or last_event_at >= date_add({{ window_date('observation_end') }}, 1)
    or first_event_at < {{ window_date('observation_start') }}
