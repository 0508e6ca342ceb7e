"""DynamoDB helpers every capability's DAL shares (batched reads and writes with their retries)."""
