with

users as (

    select user_id from {{ ref('slv_user_features') }}

),

events as (

    select * from {{ ref('brz_events') }}

),

prediction_purchases as (

    select
        user_id,
        count(*) as n_purchases,
        sum(price) as spend
    from events
    where
        event_type = 'purchase'
        and event_date >= {{ window_date('prediction_start') }}
        and event_date <= {{ window_date('prediction_end') }}
    group by user_id

),

final as (

    select
        -- ids
        users.user_id,

        -- label
        cast(coalesce(prediction_purchases.n_purchases, 0) > 0 as int) as label,

        -- measures
        coalesce(prediction_purchases.n_purchases, 0) as label_window_purchases,
        cast(coalesce(prediction_purchases.spend, 0) as double) as label_window_spend

    from users
    left join prediction_purchases
        on users.user_id = prediction_purchases.user_id

)

select * from final
