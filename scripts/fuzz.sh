#!/usr/bin/env bash
# Fuzzes every input-facing API with the proptest property tests (docs/fuzzing.md):
# builds the proptest_* test binaries of messaging-spec, messaging-core and
# messaging-memory in release mode, then runs them over and over with a large
# PROPTEST_CASES (a fresh random seed each run) until MINUTES are up. Exits non-zero on
# the first failure, after proptest has printed the shrunk, minimal failing input.
#
# Usage: scripts/fuzz.sh [MINUTES]       (default 10)
# Env:   FUZZ_CASES   cases per property per run (default 5000); the in-memory broker
#                     test, which runs a whole broker per case, gets a sixteenth of it.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes="${1:-10}"
if ! [[ "$minutes" =~ ^[0-9]+$ ]] || [ "$minutes" -lt 1 ]; then
  echo "usage: $0 [MINUTES]   (a whole number >= 1)" >&2
  exit 2
fi
cases="${FUZZ_CASES:-5000}"
broker_cases=$(( cases / 16 > 32 ? cases / 16 : 32 ))

echo "==> building the property tests (release)"
bins=()
while IFS= read -r exe; do
  bins+=("$exe")
done < <(
  cargo test --release --no-run --message-format=json \
    -p messaging-spec -p messaging-core -p messaging-memory --test 'proptest_*' |
    grep -o '"executable":"[^"]*"' | sed 's/^"executable":"//; s/"$//'
)
if [ "${#bins[@]}" -eq 0 ]; then
  echo "fuzz: no proptest_* test binaries were built" >&2
  exit 1
fi

# Properties per binary, for the count of cases run.
declare -A props
for b in "${bins[@]}"; do
  props["$b"]=$("$b" --list --format terse | grep -c ': test$' || true)
  echo "    $(basename "$b" | sed 's/-[0-9a-f]*$//'): ${props[$b]} properties"
done

deadline=$(( $(date +%s) + minutes * 60 ))
total=0
round=0
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
echo "==> fuzzing for $minutes minute(s): $cases cases per property per run ($broker_cases for the broker test)"
while [ "$(date +%s)" -lt "$deadline" ]; do
  round=$(( round + 1 ))
  round_cases=0
  round_start=$(date +%s)
  for b in "${bins[@]}"; do
    [ "$(date +%s)" -lt "$deadline" ] || break
    name="$(basename "$b" | sed 's/-[0-9a-f]*$//')"
    n="$cases"
    case "$name" in proptest_settle) n="$broker_cases" ;; esac
    if ! PROPTEST_CASES="$n" "$b" -q >"$log" 2>&1; then
      cat "$log"
      echo "fuzz: FAILED in $name (round $round) after $(( total + round_cases )) passing cases; the minimal input is above" >&2
      exit 1
    fi
    round_cases=$(( round_cases + n * props[$b] ))
  done
  total=$(( total + round_cases ))
  echo "    round $round: $round_cases cases in $(( $(date +%s) - round_start )) s (total $total)"
done
echo "fuzz: $total cases passed in $round round(s) over $minutes minute(s)"
