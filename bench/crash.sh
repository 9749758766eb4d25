#!/usr/bin/env bash
# Release check: kill the server with SIGKILL during activation storms, many
# times (default 300), and check after each kill that every acknowledged
# activation is stored, no key is over its seat limit, and SQLite's
# integrity check passes. Usage: bench/crash.sh [KILLS]
set -euo pipefail
case "${1:-}" in
-h | --help)
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
  ;;
esac
kills="${1:-300}"
if ! [[ "$kills" =~ ^[1-9][0-9]*$ ]]; then
  echo "bench/crash.sh: KILLS must be a positive whole number, not '$kills' (usage: bench/crash.sh [KILLS])" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
log=$(mktemp -t echt-crash.XXXXXX)
if ECHT_CRASH_KILLS="$kills" go test -count=1 -timeout 6h -run '^TestCrashDuringActivations$' -v ./internal/cli >"$log" 2>&1; then
  grep -E 'kills|^(--- )?PASS|^ok' "$log"
  rm -f "$log"
else
  tail -n 60 "$log" >&2
  echo "bench/crash.sh: FAILED; the whole log is in $log" >&2
  exit 1
fi
