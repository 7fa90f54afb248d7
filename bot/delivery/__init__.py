"""Delivering approved replies to DELIVERY_WEBHOOK_URL (CONTRACT §11).

`worker` makes the attempts (signed per Standard Webhooks, retried for a day, durable in
`storage.repo.deliveries`); `card` says on the draft's card how it goes; `redeliver` is the
`redeliver:<draft_id>` button of a delivery that failed for good.
"""
