{{ config(contract={'enforced': true}) }}

with

scores as (

    select * from {{ ref('ml_user_purchase_scores') }}

),

features as (

    select * from {{ ref('slv_user_features') }}

),

final as (

    select
        -- ids
        scores.user_id,

        -- ranking
        cast(scores.purchase_rank as int) as purchase_rank,
        scores.purchase_probability,
        cast(scores.model_version as int) as model_version,

        -- what the user did in the observation window
        features.n_events,
        features.n_carts,
        features.n_purchases,
        features.purchase_spend,
        features.days_since_last_event,
        features.favourite_category_id

    from scores
    inner join features
        on scores.user_id = features.user_id
    where scores.purchase_rank <= {{ var('top_buyers') }}

)

select * from final
