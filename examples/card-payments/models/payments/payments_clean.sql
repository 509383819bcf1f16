SELECT payment_id, merchant_id, amount, currency, ts
FROM {{ source("payments_raw") }}
WHERE amount > 0 AND currency IN ('EUR', 'USD', 'GBP')
