{{ config(contract={'enforced': true}) }}

with

features as (

    select * from {{ ref('slv_user_features') }}

),

labels as (

    select * from {{ ref('slv_user_labels') }}

),

split as (

    select
        features.*,
        labels.label,
        {{ hash_split_bucket('features.user_id') }} as split_bucket
    from features
    inner join labels
        on features.user_id = labels.user_id

),

assigned as (

    select
        *,
        case
            when split_bucket < {{ var('train_ratio') }} * 10000 then 'train'
            else 'test'
        end as split
    from split

),

train_balance as (

    select
        count(*) as n_train,
        sum(label) as n_train_positives
    from assigned
    where split = 'train'

),

final as (

    select
        -- ids
        assigned.user_id,

        -- split and label
        assigned.split,
        cast(assigned.split_bucket as int) as split_bucket,
        assigned.label,
        -- balanced class weights from the training split: n / (2 * n_class)
        cast(
            case
                when assigned.label = 1
                    then train_balance.n_train / (2 * nullif(train_balance.n_train_positives, 0))
                else
                    train_balance.n_train
                    / (2 * nullif(train_balance.n_train - train_balance.n_train_positives, 0))
            end as double
        ) as class_weight,

        -- features (see slv_user_features)
        assigned.n_events,
        assigned.n_views,
        assigned.n_carts,
        assigned.n_removes_from_cart,
        assigned.n_purchases,
        assigned.n_products,
        assigned.n_categories,
        assigned.n_brands,
        assigned.n_sessions,
        assigned.n_active_days,
        assigned.purchase_spend,
        assigned.avg_viewed_price,
        assigned.max_viewed_price,
        assigned.cart_rate,
        assigned.purchase_rate,
        assigned.favourite_category_share,
        assigned.avg_session_events,
        assigned.max_session_events,
        assigned.avg_session_duration_s,
        assigned.max_session_duration_s,
        assigned.days_since_last_event,
        assigned.days_since_first_event

    from assigned
    cross join train_balance

)

select * from final
