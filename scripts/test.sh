#!/usr/bin/env bash
# Runs every test: unit, fixture, integration (real nats-server and RabbitMQ), the
# cross-transport suite, doc tests, the HTML
# diagram test in headless Chromium, and the official gomessaging TCK on NATS and RabbitMQ.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(bash scripts/install-deps.sh --browser | grep -E '^(PATH|MESSAGING_ASYNCAPI_SCHEMA)=' | sed 's/^/export /')"

echo "==> spec fixtures: cases run per file"
cargo test -q -p messaging-spec --test fixture_naming --test fixture_cloudevents \
  --test fixture_validate --test fixture_topology --test fixture_constants \
  -- --nocapture --skip unknown_keys_fail 2>&1 | grep -oE 'fixture [a-z]+\.json.*cases passed' || true

echo "==> cargo test (workspace: unit, fixtures, integration, doc tests)"
cargo test --workspace --all-targets --no-fail-fast
cargo test --workspace --doc --no-fail-fast

echo "==> official TCK (NATS 10/10, then AMQP 12/12 on a private RabbitMQ)"
bash tck/run.sh
