"""The Kafka event source mapping of the local runtime (SelfManagedKafka and MSK)."""
