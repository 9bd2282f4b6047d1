{#-
    The streaming aggregation agrees with a batch count over the streamed events (same window,
    type and category), both ways: a window it wrote with another count, and a window the
    watermark has passed (its end at least var stream_watermark before the newest valid event)
    that it never wrote, are returned. Windows still waiting for the watermark are not.
-#}

with

streamed as (

    select * from {{ ref('slv_stream_event_counts') }}

),

events as (

    select * from {{ ref('brz_stream_events') }}
    where reject_reason is null

),

batch as (

    select
        window(event_time, '1 hour').start as window_start,
        window(event_time, '1 hour').end as window_end,
        event_type,
        category_id,
        count(*) as n_events
    from events
    group by window(event_time, '1 hour'), event_type, category_id

),

watermark as (

    select max(event_time) - interval '{{ var("stream_watermark") }}' as passed_until
    from events

),

compared as (

    select
        coalesce(streamed.window_start, batch.window_start) as window_start,
        coalesce(streamed.event_type, batch.event_type) as event_type,
        coalesce(streamed.category_id, batch.category_id) as category_id,
        streamed.n_events as streamed_events,
        batch.n_events as batch_events,
        batch.window_end as batch_window_end
    from streamed
    full outer join batch
        on
            streamed.window_start = batch.window_start
            and streamed.event_type = batch.event_type
            and streamed.category_id = batch.category_id

)

select compared.*
from compared
cross join watermark
where
    compared.batch_events is null
    or (
        compared.streamed_events is null
        and compared.batch_window_end <= watermark.passed_until
    )
    or compared.batch_events != compared.streamed_events
