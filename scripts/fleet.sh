#!/usr/bin/env bash
# The demo fleet as an operator sees it (docs/fleet.md): starts the shop on a private
# nats-server and keeps it running (`shop-demo nats --hold`), points the `messaging` CLI
# (and `nats`, when installed) at it, and writes every output to OUT (default
# target/fleet):
#
#   declared/      each service's topology, as the services export it
#   discovered/    the same, read back from the broker (`messaging discover --out`)
#   next/          declared, plus a consumer not rolled out yet: the drift `plan` finds
#   *.txt          discover, plan, doctor, tail, request, nats micro / $SRV.INFO
#   asyncapi.json  the fleet's AsyncAPI 3.0 document
#   fleet.svg, fleet.html                        the picture of the declared fleet
#   fleet-discovered.svg, fleet-discovered.html  the picture of what the broker shows
#
#   bash scripts/fleet.sh [OUT]
#   bash scripts/fleet.sh --docs     also copies the two pictures into docs/
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

docs=false
out=target/fleet
for arg in "$@"; do
    case "$arg" in
        --docs) docs=true ;;
        -*) echo "unknown flag $arg" >&2; exit 2 ;;
        *) out=$arg ;;
    esac
done

eval "$(bash scripts/install-deps.sh | grep '^PATH=' | sed 's/^/export /')"
cargo build --quiet -p messaging-cli -p messaging-example-shop
bin=target/debug
messaging=$bin/messaging

rm -rf "$out"
mkdir -p "$out"
"$bin/shop-demo" nats --hold --topologies "$out/declared" >"$out/demo.txt" 2>&1 &
demo=$!
trap 'kill -TERM "$demo" 2>/dev/null || true; wait "$demo" 2>/dev/null || true' EXIT

url=""
for _ in $(seq 1 300); do
    url=$(sed -n 's/^== holding the fleet on \(.*\) (Ctrl-C to stop)$/\1/p' "$out/demo.txt")
    [ -n "$url" ] && break
    kill -0 "$demo" 2>/dev/null || { cat "$out/demo.txt" >&2; exit 1; }
    sleep 0.2
done
[ -n "$url" ] || { echo "the demo did not hold the fleet within 60 s" >&2; cat "$out/demo.txt" >&2; exit 1; }
cat "$out/demo.txt"

# Runs a command, shows it and its output, and keeps both in $out/$1.txt; a non-zero
# exit is shown, not fatal (plan exits 1 on drift).
step() {
    local name=$1
    shift
    local rc=0
    {
        echo "\$ $*"
        "$@" 2>&1 || rc=$?
        [ "$rc" = 0 ] || echo "(exit $rc)"
    } >"$out/$name.txt"
    sed "s|$url|\$NATS_URL|g" "$out/$name.txt" >"$out/$name.txt.tmp" && mv "$out/$name.txt.tmp" "$out/$name.txt"
    echo
    cat "$out/$name.txt"
}

step discover "$messaging" discover --nats "$url"
"$messaging" discover --nats "$url" --out "$out/discovered" >/dev/null 2>&1

# The next release of notifications also consumes Order.Cancelled; the broker has not seen
# it yet.
mkdir -p "$out/next"
cp "$out/declared/"*.json "$out/next/"
cat >"$out/next/shop-notifications.json" <<'EOF'
{
  "transport": "nats",
  "serviceName": "shop-notifications",
  "endpoints": [
    {
      "direction": "consume",
      "pattern": "event-stream",
      "exchangeName": "events",
      "exchangeKind": "topic",
      "queueName": "shop-notifications",
      "routingKey": "Order.Placed",
      "messageType": "messaging_example_shop::OrderPlaced"
    },
    {
      "direction": "consume",
      "pattern": "event-stream",
      "exchangeName": "events",
      "exchangeKind": "topic",
      "queueName": "shop-notifications",
      "routingKey": "Order.Cancelled",
      "messageType": "messaging_example_shop::OrderCancelled"
    }
  ]
}
EOF
step plan-declared "$messaging" plan --nats "$url" "$out/declared/"*.json
step plan "$messaging" plan --nats "$url" "$out/next/"*.json
step doctor "$messaging" doctor --nats "$url"
step tail "$messaging" tail --nats "$url" --from-start --count 2
step request "$messaging" request --nats "$url" shop-billing Billing.Charge '{"order_id": 7, "cents": 500}'
if command -v nats >/dev/null; then
    step micro-ls nats --server "$url" micro ls
    step micro-info nats --server "$url" micro info shop-billing
    step srv-info nats --server "$url" request '$SRV.INFO.shop-billing' ''
else
    echo "(nats CLI not installed: skipping nats micro; see docs/micro.md)" | tee "$out/micro-ls.txt"
fi

"$messaging" asyncapi --rules export --title "The shop" "$out/declared/"*.json >"$out/asyncapi.json"
"$messaging" visualize --rules export --html "$out/fleet.html" --svg "$out/fleet.svg" \
    "$out/declared/"*.json >"$out/fleet.mmd"
# Discovery cannot see Core NATS request publishers, so billing's requests have no
# publisher: draw without validating.
"$messaging" visualize --no-validate --html "$out/fleet-discovered.html" \
    --svg "$out/fleet-discovered.svg" "$out/discovered/"*.json >"$out/fleet-discovered.mmd"

if $docs; then
    cp "$out/fleet.svg" docs/fleet.svg
    cp "$out/fleet-discovered.svg" docs/fleet-discovered.svg
    echo "copied the pictures to docs/"
fi
echo
echo "everything is in $out/"
