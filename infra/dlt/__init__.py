"""`surge dlt`: list, inspect and re-drive the dead-letter topics of a template's Kafka event sources."""
