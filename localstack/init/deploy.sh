#!/bin/sh
# Create the Kafka topics declared in template.yaml's Metadata and deploy the stack with the SAM CLI
# (`sam build` + `sam deploy` with AWS_ENDPOINT_URL pointing at LocalStack; what `samlocal` does).
set -eu
sh /surge/localstack/init/install.sh
surge localstack deploy --template template.yaml --stack-name surge \
  --endpoint "$AWS_ENDPOINT_URL" --kafka-bootstrap-servers "$KAFKA_BOOTSTRAP_SERVERS"
