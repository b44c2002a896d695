#!/usr/bin/env bash
# The performance comparison of issue 9: messaging-nats against raw async-nats and the Go
# reference (imitated by interop/go-peer), release build, one nats-server, rotated samples.
#
#   bash scripts/bench.sh                 # 50 000 events per run, 5 samples, 1 M backlog
#   BENCH_MESSAGES=20000 BENCH_SAMPLES=3 BENCH_BACKLOG=0 bash scripts/bench.sh
#
# Needs nats-server >= 2.10 on PATH (scripts/install-deps.sh installs it) and, for the Go
# rows, Go. See docs/performance.md for what each row does.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nats-server >/dev/null; then
    for dir in "$HOME"/.pyenv/versions/*/bin /usr/local/bin; do
        [ -x "$dir/nats-server" ] && PATH="$dir:$PATH" && break
    done
fi
command -v nats-server >/dev/null || { echo "bench.sh: nats-server not found (run scripts/install-deps.sh)" >&2; exit 1; }

if [ -z "${GO_PEER:-}" ] && command -v go >/dev/null; then
    GO_PEER="$PWD/target/go-peer"
    (cd interop/go-peer && go build -o "$GO_PEER" .)
    export GO_PEER
fi

exec cargo bench -p messaging-nats --bench compare
