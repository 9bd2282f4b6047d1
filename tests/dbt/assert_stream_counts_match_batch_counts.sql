{#-
    Every window the streaming aggregation wrote agrees with a batch count over the streamed
    events (same window, type and category). Returns the windows that disagree.
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
        event_type,
        category_id,
        count(*) as n_events
    from events
    group by window(event_time, '1 hour'), event_type, category_id

)

select
    streamed.window_start,
    streamed.event_type,
    streamed.category_id,
    streamed.n_events as streamed_events,
    batch.n_events as batch_events
from streamed
left join batch
    on
        streamed.window_start = batch.window_start
        and streamed.event_type = batch.event_type
        and streamed.category_id = batch.category_id
where batch.n_events is null or batch.n_events != streamed.n_events
