"""Deploying template.yaml with the real SAM CLI to a LocalStack-compatible endpoint (docs/localstack.md)."""
