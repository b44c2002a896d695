#!/usr/bin/env bash
# The demo: one shop (orders, billing, notifications) whose business code is written once
# against messaging-core's traits, run on NATS and then on RabbitMQ, each broker started
# by the demo itself (examples/shop/src/bin/shop-demo.rs).
#
#   bash scripts/demo.sh          both brokers
#   bash scripts/demo.sh nats     one of them (nats | amqp)
#   bash scripts/demo.sh nats --hold [--topologies DIR]
#                                 keep the NATS fleet running for the CLI (docs/fleet.md)
#
# With NATS_URL or RABBITMQ_URL set, that broker is used instead of a private one.
# Installs what a fresh machine lacks first (nats-server, rabbitmq-server).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

eval "$(bash scripts/install-deps.sh | grep '^PATH=' | sed 's/^/export /')"

exec cargo run --quiet -p messaging-example-shop --bin shop-demo -- "${@:-all}"
