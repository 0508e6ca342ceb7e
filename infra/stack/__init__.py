"""The real services surge runs locally: Apache Kafka (KRaft) and DynamoDB Local, as child processes."""

from infra.stack.errors import StackError

__all__ = ["StackError"]
