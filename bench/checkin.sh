#!/usr/bin/env bash
# Benchmark: HOSTS simulated hosts of PACKAGES packages enroll and check in
# to one server on SQLite. Reports full-inventory ingest rate, delta
# check-in latency, server peak RSS and database size per host.
#   bench/checkin.sh [HOSTS] [PACKAGES] [DURATION] [INTERVAL]
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${1:-2000}; PACKAGES=${2:-1000}; DURATION=${3:-180s}; INTERVAL=${4:-60s}
out=$(mktemp -d); trap 'kill $spid 2>/dev/null || true; wait 2>/dev/null; rm -rf "$out"' EXIT
go build -o "$out/patchbay" ./cmd/patchbay
"$out/patchbay" server --listen 127.0.0.1:18443 --data-dir "$out/data" --checkin-interval "$INTERVAL" >"$out/server.out" 2>"$out/server.log" &
spid=$!
for _ in $(seq 1 100); do grep -q "Patchbay server on" "$out/server.out" 2>/dev/null && break; sleep 0.1; done
export PATCHBAY_SERVER=https://127.0.0.1:18443 PATCHBAY_CA="$out/data/ca.crt" PATCHBAY_TOKEN=$(cat "$out/data/admin.token")
token=$("$out/patchbay" enroll-token create --max-hosts "$HOSTS" --expires 2h)
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(date -u +%F)"
echo "server RSS before: $(awk '/VmRSS/{print $2/1024 " MiB"}' /proc/$spid/status)"
"$out/patchbay" sim --enroll-token "$token" --hosts "$HOSTS" --packages "$PACKAGES" --interval "$INTERVAL" --duration "$DURATION" --concurrency 8 2>"$out/sim.log"
rss=$(awk '/VmHWM/{print $2}' /proc/$spid/status)
db=$(du -cb "$out/data"/patchbay.db* | tail -n1 | cut -f1)
echo "server peak RSS: $((rss/1024)) MiB ($((rss/HOSTS)) KiB per host)"
echo "database size: $((db/1024/1024)) MiB ($((db/HOSTS/1024)) KiB per host)"
echo "server CPU time: $(ps -o times= -p $spid) s"
grep -c "level=ERROR" "$out/server.log" | sed 's/^/server errors logged: /'
