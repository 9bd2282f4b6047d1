{#- Recommendations never repeat a product the user already interacted with. -#}

with

recommendations as (

    select * from {{ ref('ml_product_recommendations') }}

),

interactions as (

    select * from {{ ref('slv_user_product_interactions') }}

)

select
    recommendations.user_id,
    recommendations.product_id,
    recommendations.source
from recommendations
inner join interactions
    on
        recommendations.user_id = interactions.user_id
        and recommendations.product_id = interactions.product_id
