"""The transactional outbox, one engine for every capability (docs/orders-and-outbox.md).

- `items.outbox_put` is the outbox item a capability adds to the SAME TransactWriteItems as its
  business change: a failed condition writes neither.
- The relay (DynamoDB Streams on the outbox table, INSERTs only) publishes each item to Kafka.
- The confirmer reads every event back from Kafka and marks its item PUBLISHED.
- The sweeper republishes PENDING items older than a threshold, found through a sparse index.
- `inbox.inbox_put` makes a consumer's effect happen once per event, whatever the redeliveries.
"""
