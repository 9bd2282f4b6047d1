{#-
    The scoring snapshot's feature definition: an md5 of user_feature_snapshot's SQL (on fixed
    dates), kept in every row of ml_user_scoring_set, so that a snapshot made by other feature
    SQL is never carried forward.
-#}
{% macro features_definition() -%}
    {{- return(local_md5(user_feature_snapshot("date'2000-01-01'", "date'2000-01-31'"))) -}}
{%- endmacro %}


{#-
    Whether ml_user_scoring_set can carry the snapshot its table holds one day forward instead
    of summing every user's window again. It can when the table holds the snapshot of the day
    before this run date, of as many days, made by the same feature definition, and no day of
    this run's window but the run date itself has changed in the three daily aggregates the
    features read since that snapshot was written (their Delta logs: no commit since then
    added or removed rows of another date of the window: a late file, a reload, a delete, a
    restore; a compaction changes no row). Then a user with no row
    on the run date nor on the day that left the window has the same rows in the window as
    yesterday, hence the same features a day older, and only the other users are summed
    again. Otherwise (the first build, a rerun of a date, a backfill that skips a day, a late
    file, changed feature SQL or vars) the snapshot is summed whole. Says which in one line.
-#}
{% macro scoring_snapshot_rolls_forward(definition) -%}
    {%- set aggregates = [ref('slv_user_daily_activity'), ref('slv_user_product_daily'),
                          ref('slv_user_session_daily')] -%}
    {%- if not (execute and model.resource_type == 'model' and is_incremental()) -%}
        {{- return(false) -}}
    {%- endif -%}
    {%- set dates = window_dates() -%}
    {%- set one = modules.datetime.timedelta(days=1) -%}
    {%- set run_date = dates.run_date.strftime('%Y-%m-%d') -%}
    {%- set start = dates.scoring_start.strftime('%Y-%m-%d') -%}
    {%- set wanted = [(dates.run_date - one).strftime('%Y-%m-%d'),
                      (dates.scoring_start - one).strftime('%Y-%m-%d'), definition] -%}
    {%- set why = [] -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- if 'features_definition' not in columns -%}
        {%- do why.append('its table has no features_definition column yet') -%}
    {%- else -%}
        {%- set held = run_query(
            'select cast(min(run_date) as string), cast(max(run_date) as string),'
            ~ ' cast(min(features_start_date) as string),'
            ~ ' cast(max(features_start_date) as string),'
            ~ ' min(features_definition), max(features_definition) from ' ~ this).rows[0] -%}
        {%- if held[0] != held[1] or held[0] != wanted[0] -%}
            {%- do why.append('its table holds run date ' ~ held[0] ~ ', not ' ~ wanted[0]) -%}
        {%- elif held[2] != held[3] or held[2] != wanted[1] -%}
            {%- do why.append('its window started on ' ~ held[2] ~ ', not ' ~ wanted[1]) -%}
        {%- elif held[4] != held[5] or held[4] != definition -%}
            {%- do why.append('the feature SQL changed since it was made') -%}
        {%- endif -%}
    {%- endif -%}
    {%- if not why -%}
        {%- set warehouse = adapter.warehouse_dir() -%}
        {%- set written = adapter.delta_last_commit_ms(warehouse, this.schema, this.identifier) -%}
        {%- for aggregate in aggregates if not why -%}
            {%- set changed = adapter.delta_partitions_rewritten_since(
                warehouse, aggregate.schema, aggregate.identifier, written, 'event_date'
            ) if written else none -%}
            {%- if changed is none -%}
                {%- do why.append("the Delta log of " ~ aggregate.identifier
                                  ~ " cannot tell what changed since it was made") -%}
            {%- else -%}
                {%- set earlier = changed | reject('none') | select('>=', start)
                                  | select('<', run_date) | list -%}
                {%- if earlier -%}
                    {%- do why.append(aggregate.identifier ~ ' changed on ' ~ earlier[:3]
                                      | join(', ') ~ (' ...' if earlier | length > 3 else '')
                                      ~ ' since it was made') -%}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if why -%}
        {{ log(this.identifier ~ ': every user summed again: ' ~ why[0], info=true) }}
        {{- return(false) -}}
    {%- endif -%}
    {{ log(this.identifier ~ ': carried forward from ' ~ wanted[0] ~ '; the users active on '
           ~ run_date ~ ' or on ' ~ wanted[1] ~ ' summed again', info=true) }}
    {{- return(true) -}}
{%- endmacro %}


{#-
    ml_user_scoring_set's features carried one day forward (when scoring_snapshot_rolls_forward
    says it can be): the users with a row in the daily activity on the run date or on the day
    that left the window summed again from the window's rows (a user with a row in any daily
    aggregate on a day has one in the daily activity, which sums every event's session), and
    every other user's row of the day before, a day older. The same rows as summing every user.
-#}
{% macro scoring_snapshot_carried_forward() -%}
    with

    summed_again as (

        select distinct user_id
        from {{ ref('slv_user_daily_activity') }}
        where event_date in (
            {{ window_date('run_date') }}, date_sub({{ window_date('scoring_start') }}, 1)
        )

    ),

    summed as (

        {{ user_feature_snapshot(window_date('scoring_start'), window_date('scoring_end'),
                                 users='summed_again') }}

    ),

    kept as (

        select
            kept.user_id,
            kept.favourite_category_id,
            kept.n_events,
            kept.n_views,
            kept.n_carts,
            kept.n_removes_from_cart,
            kept.n_purchases,
            kept.n_products,
            kept.n_categories,
            kept.n_brands,
            kept.n_sessions,
            kept.n_active_days,
            kept.purchase_spend,
            kept.avg_viewed_price,
            kept.max_viewed_price,
            kept.cart_rate,
            kept.purchase_rate,
            kept.favourite_category_share,
            kept.avg_session_events,
            kept.max_session_events,
            kept.avg_session_duration_s,
            kept.max_session_duration_s,
            -- recency counts back from the window's last day, a day later now
            kept.days_since_last_event + 1 as days_since_last_event,
            kept.days_since_first_event + 1 as days_since_first_event,
            kept.first_event_at,
            kept.last_event_at
        from {{ this }} as kept
        left anti join summed_again on kept.user_id = summed_again.user_id

    )

    select * from summed
    union all
    select * from kept
{%- endmacro %}
