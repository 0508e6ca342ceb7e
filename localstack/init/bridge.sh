#!/bin/sh
# Drive the deployed stack's Kafka event sources (LocalStack community does not poll Kafka) and serve
# its HTTP routes on :3000, invoking the deployed functions through the Lambda Invoke API.
set -eu
sh /surge/localstack/init/install.sh
exec surge localstack bridge --template template.yaml --stack-name surge --http-host 0.0.0.0 --http-port 3000 \
  --endpoint "$AWS_ENDPOINT_URL" --kafka-bootstrap-servers "$KAFKA_BOOTSTRAP_SERVERS"
