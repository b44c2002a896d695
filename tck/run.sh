#!/usr/bin/env bash
# Runs the official gomessaging TCK against messaging-tck-adapter on both transports:
# a fresh, throwaway JetStream-enabled nats-server, then a private RabbitMQ started by
# the testkit (testkit-broker). Each broker serves only the TCK. See docs/tck.md.
#
# Usage: tck/run.sh [harness flags]     e.g. tck/run.sh -v -scenario fan-out
#
# Environment:
#   NATS_SERVER_BIN          nats-server (>= 2.10) to use; default: the one on PATH
#   MESSAGING_SPEC_TESTDATA  directory holding tck.json; default: <repo>/../shared/spec/testdata
#   TCK_ADAPTER              run this adapter instead of building messaging-tck-adapter
#   CARGO_TARGET_DIR         honoured as cargo does; reports and the harness go there too
#   TCK_TRANSPORTS           which transports to run: "nats amqp" (default), "nats" or "amqp"
#
# Exit status: the harness's (0 pass, 1 fail, 2 usage); 2 as well when a
# prerequisite is missing or the broker does not come up.
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$script_dir/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
# cargo runs from $repo below, so a relative CARGO_TARGET_DIR means $repo/...
[[ $target == /* ]] || target=$repo/$target
testdata=${MESSAGING_SPEC_TESTDATA:-$repo/../shared/spec/testdata}
fixtures=$testdata/tck.json
harness=$target/tck/tck-harness
transports=${TCK_TRANSPORTS:-nats amqp}

die() {
	echo "tck/run.sh: $*" >&2
	exit 2
}

[[ -f $fixtures ]] || die "fixtures not found: $fixtures (set MESSAGING_SPEC_TESTDATA)"
command -v go >/dev/null || die "go not found on PATH"

nats_bin=${NATS_SERVER_BIN:-$(command -v nats-server || true)}
[[ -n $nats_bin && -x $nats_bin ]] || die "nats-server not found: put it on PATH or set NATS_SERVER_BIN"
nats_version=$("$nats_bin" --version 2>&1 || true)
[[ $nats_version =~ v([0-9]+)\.([0-9]+)\.[0-9]+ ]] || die "cannot read the nats-server version from: $nats_version"
nats_version=${BASH_REMATCH[0]} major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
((major > 2 || (major == 2 && minor >= 10))) || die "nats-server >= 2.10 required, found: $nats_version"

if [[ -n ${TCK_ADAPTER:-} ]]; then
	adapter=$TCK_ADAPTER
	if [[ $transports == *amqp* ]]; then
		(cd "$repo" && cargo build --release -p messaging-testkit --bin testkit-broker)
	fi
else
	echo "==> cargo build --release -p messaging-tck-adapter -p messaging-testkit" >&2
	(cd "$repo" && cargo build --release -p messaging-tck-adapter -p messaging-testkit --bin messaging-tck-adapter --bin testkit-broker)
	adapter=$target/release/messaging-tck-adapter
fi
echo "==> go build (tck/runner) -> $harness" >&2
mkdir -p "$target/tck"
(cd "$repo/tck/runner" && go build -o "$harness" .)

workdir=$(mktemp -d "${TMPDIR:-/tmp}/messaging-tck.XXXXXX")
nats_pid=

stop_nats() {
	[[ -n $nats_pid ]] || return 0
	# The real server PID (from -P) differs from $! if a wrapper did not exec.
	local pid=$nats_pid
	[[ -s $workdir/nats.pid ]] && pid=$(<"$workdir/nats.pid")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$nats_pid" 2>/dev/null || true
	nats_pid=
}
broker_pid=
stop_broker() {
	[[ -n $broker_pid ]] || return 0
	# Closing the fifo ends its stdin: it stops RabbitMQ and epmd, then exits.
	exec 8>&- || true
	for _ in $(seq 300); do
		kill -0 "$broker_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$broker_pid" 2>/dev/null || true
	wait "$broker_pid" 2>/dev/null || true
	broker_pid=
}
cleanup() {
	stop_nats
	stop_broker
	rm -rf -- "$workdir"
}
harness_pid=
# Bash runs traps only between foreground commands, so the harness runs in
# the background and a signal (e.g. from `timeout`) stops it at once; the
# adapter then sees stdin EOF and exits.
on_signal() {
	[[ -z $harness_pid ]] || kill "$harness_pid" 2>/dev/null || true
	exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# -p -1: the server binds a free port itself and reports it in the ports file,
# so there is no window in which another process can take a pre-picked port.
"$nats_bin" -a 127.0.0.1 -p -1 -js -sd "$workdir/store" \
	-P "$workdir/nats.pid" --ports_file_dir "$workdir" >"$workdir/nats.log" 2>&1 &
nats_pid=$!

# Ready = the ports file is written (after the listeners are up) and a client
# connection gets an INFO line announcing JetStream. Bounded: 10 s.
NATS_URL=
for _ in $(seq 100); do
	if ! kill -0 "$nats_pid" 2>/dev/null; then
		cat "$workdir/nats.log" >&2
		die "nats-server exited during startup"
	fi
	ports_file=$(compgen -G "$workdir/nats-server*.ports" | head -n1 || true)
	if [[ -n $ports_file ]]; then
		url=$(grep -o 'nats://[^"]*' "$ports_file" | head -n1 || true)
		hostport=${url#nats://}
		info=
		if [[ -n $hostport ]] && { exec 9<>"/dev/tcp/${hostport%:*}/${hostport##*:}"; } 2>/dev/null; then
			read -r -t 2 info <&9 || true
			exec 9>&-
		fi
		if [[ $info == INFO* && $info == *'"jetstream":true'* ]]; then
			NATS_URL=$url
			break
		fi
	fi
	sleep 0.1
done
if [[ -z $NATS_URL ]]; then
	cat "$workdir/nats.log" >&2
	die "nats-server did not become ready within 10 s"
fi
export NATS_URL
echo "==> nats-server $nats_version with JetStream at $NATS_URL" >&2

run_harness() { # transport report-suffix, then harness flags
	local transport=$1 md=$target/tck-report-$1.md json=$target/tck-report-$1.json
	shift
	rm -f -- "$md" "$json"
	local status=0
	"$harness" -adapter "$adapter" -fixtures "$fixtures" \
		-report-md "$md" -report-json "$json" "$@" &
	harness_pid=$!
	wait "$harness_pid" || status=$?
	harness_pid=
	if [[ -f $md ]]; then
		echo >&2
		echo "==> report ($transport): $md" >&2
		# The summary: result, skips and the scenario table.
		sed -n '/^## \(Failures\|Coverage Matrix\)/q;p' "$md" >&2
	fi
	return "$status"
}

# With no harness flags every scenario must run and pass: NATS skips only the two
# AMQP-only ones. A harness that ran fewer fails here even if it exited 0.
require_all() { # transport expected-count
	local md=$target/tck-report-$1.md
	(($# == 2)) || return 0
	grep -q "PASS ($2/$2 scenarios)" "$md" 2>/dev/null && return 0
	echo "tck/run.sh: $1 must pass $2/$2 scenarios; see $md" >&2
	return 1
}

status=0
if [[ $transports == *nats* ]]; then
	echo "==> TCK on NATS" >&2
	TCK_TRANSPORT=nats run_harness nats "$@" || status=$?
	if (($# == 0)); then require_all nats 10 || status=1; fi
fi
stop_nats

if [[ $transports == *amqp* ]]; then
	echo "==> starting a private RabbitMQ (testkit-broker)" >&2
	broker_bin=$target/release/testkit-broker
	mkfifo "$workdir/hold"
	"$broker_bin" rabbitmq "$workdir/rabbit.env" <"$workdir/hold" >"$workdir/broker.log" 2>&1 &
	broker_pid=$!
	exec 8>"$workdir/hold"
	for _ in $(seq 900); do
		[[ -s $workdir/rabbit.env ]] && break
		kill -0 "$broker_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [[ ! -s $workdir/rabbit.env ]]; then
		cat "$workdir/broker.log" >&2
		die "RabbitMQ did not start within 90 s"
	fi
	# shellcheck disable=SC1091
	set -a && . "$workdir/rabbit.env" && set +a
	echo "==> TCK on AMQP (RabbitMQ, management API on ${RABBITMQ_MANAGEMENT_URL##*:})" >&2
	amqp_status=0
	TCK_TRANSPORT=amqp run_harness amqp "$@" || amqp_status=$?
	if (($# == 0)); then require_all amqp 12 || amqp_status=1; fi
	stop_broker
	((amqp_status == 0)) || status=$amqp_status
fi
exit "$status"
