#!/bin/sh
# surge's own tools into the container (the SAM CLI is installed on first `surge localstack deploy`).
set -eu
pip install --quiet --root-user-action=ignore /surge
