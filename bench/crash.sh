#!/usr/bin/env bash
# Release check: kill the server with SIGKILL during activation storms, many
# times (default 300), and check after each kill that every acknowledged
# activation is stored, no key is over its seat limit, and SQLite's
# integrity check passes. Usage: bench/crash.sh [KILLS]
set -euo pipefail
cd "$(dirname "$0")/.."
kills="${1:-300}"
ECHT_CRASH_KILLS="$kills" go test -count=1 -timeout 6h -run '^TestCrashDuringActivations$' -v ./internal/cli | grep -E 'kills|PASS|FAIL|ok'
