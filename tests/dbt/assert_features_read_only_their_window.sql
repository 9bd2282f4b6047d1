{#-
    Leakage guard on the built tables: each snapshot's events per user equal the daily
    activity summed over that snapshot's own feature window, for the training set of the run
    date (written only on a day that retrains; an earlier one was checked by the run that
    wrote it) and for the scoring set. An event from the label window (or any date outside the
    window) in a feature would make the sums differ. Returns the offending users.
    Every read is cut by literal dates, so Delta reads only the partitions concerned: on a
    day that keeps its champion, no training row and the scoring window's activity.
-#}

with

training as (

    select
        'training' as snapshot,
        user_id,
        n_events,
        features_start_date,
        features_end_date
    from {{ ref('ml_user_training_set') }}
    where run_date = {{ window_date('run_date') }}

),

scoring as (

    select
        'scoring' as snapshot,
        user_id,
        n_events,
        features_start_date,
        features_end_date
    from {{ ref('ml_user_scoring_set') }}

),

-- the days either snapshot can read (literals once folded)
daily as (

    select * from {{ ref('slv_user_daily_activity') }}
    where
        event_date >= least(
            {{ window_date('observation_start') }}, {{ window_date('scoring_start') }}
        )
        and event_date <= greatest(
            {{ window_date('observation_end') }}, {{ window_date('scoring_end') }}
        )

),

snapshots as (

    select * from training
    union all
    select * from scoring

),

activity as (

    select
        snapshots.snapshot,
        snapshots.user_id,
        sum(daily.n_events) as window_events
    from snapshots
    inner join daily
        on
            snapshots.user_id = daily.user_id
            and snapshots.features_start_date <= daily.event_date
            and snapshots.features_end_date >= daily.event_date
    group by snapshots.snapshot, snapshots.user_id

)

select
    snapshots.snapshot,
    snapshots.user_id,
    snapshots.n_events,
    activity.window_events
from snapshots
left join activity
    on
        snapshots.snapshot = activity.snapshot
        and snapshots.user_id = activity.user_id
where activity.window_events is null or activity.window_events != snapshots.n_events
