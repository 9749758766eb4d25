#!/usr/bin/env bash
# Growth benchmark: bulk-loads 10k, 100k, 1M and 10M activations into SQLite
# and into PostgreSQL (straight into the database, not through HTTP) and at
# each size measures validate (with the trivial and sign baselines) and
# activate with `echt bench`. Writes bench/out/growth.json,
# docs/benchmarks-growth.md and docs/growth.svg. See bench/growth/main.go.
#
# Usage: bench/growth.sh [-stores sqlite,postgres] [-sizes 10k,100k,1M,10M]
#                        [-duration 10s] [-concurrency 64] [-keep] [-h]
#
# PostgreSQL: ECHT_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/postgres);
# a database with a random name is created there and dropped at the end.
#
# A full run (both stores, 10k to 10M, 10s per measurement) takes about
# 10 to 40 minutes on a 2-CPU machine: some 6 minutes of measurements
# (about 46 s per store and size), the rest bulk loading about 32 million
# rows per store (trial: 165k-190k rows/s at 300k activations; expect less
# at 10M) and PostgreSQL's VACUUM. Disk: about 7-8 GB for SQLite's 10M
# database (under $TMPDIR, or -work DIR), then about 12-13 GB plus WAL on
# the PostgreSQL server; each store's database is removed before the next
# one grows. Run it on an otherwise idle machine: the load generator runs
# beside the server, and the results name the CPU time other processes took.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  echo "bench/growth.sh: a full run (10k to 10M, both stores) takes about 10-40 minutes on 2 CPUs (10 on an idle box) and some 13 GB of disk; Ctrl-C stops it and keeps what was measured (-sizes and -stores choose less; -h lists the flags)" >&2
fi
exec go run ./bench/growth "$@"
