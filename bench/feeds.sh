#!/usr/bin/env bash
# Benchmark: import the complete AlmaLinux OSV feed, CISA KEV and EPSS into
# a server on SQLite through the CLI (as an air-gapped site would), re-import
# to show idempotence, then time `patchbay scan` of one Alpine 3.4 host
# image against the same feeds plus Alpine secdb, cold and from the cache.
# Each import prints its wall time, the server's CPU time for it and the
# records per second of both (the machine may be shared: CPU time says what
# an import costs when other work inflates the wall time).
#   bench/feeds.sh            (needs ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
data=$(cd ../shared/data && pwd)
out=$(mktemp -d); trap 'kill $spid 2>/dev/null || true; wait 2>/dev/null; rm -rf "$out"' EXIT
go build -o "$out/patchbay" ./cmd/patchbay
pb="$out/patchbay"
# A free port from 18444 up (the machine may run other benchmarks).
port=${PORT:-18444}
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
"$pb" server --listen 127.0.0.1:$port --data-dir "$out/data" --feed-source none >"$out/server.out" 2>"$out/server.log" &
spid=$!
for _ in $(seq 1 100); do grep -q "Patchbay server on" "$out/server.out" 2>/dev/null && break; sleep 0.1; done
export PATCHBAY_SERVER=https://127.0.0.1:$port PATCHBAY_CA="$out/data/ca.crt" PATCHBAY_TOKEN=$(cat "$out/data/admin.token")
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(date -u '+%F %H:%M') UTC; load average $(cut -d' ' -f1-3 /proc/loadavg)"
ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$spid/stat"; }
# t RECORDS CMD...: run CMD, print wall and server CPU seconds and records/s.
t() {
  local n=$1; shift
  local s c; s=$(date +%s.%N); c=$(cpu)
  "$@"
  local w sc; w=$(echo "$(date +%s.%N) - $s" | bc); sc=$(echo "$(cpu) - $c" | bc)
  echo "  wall $w s, server CPU $sc s: $(echo "$n / $w" | bc) records/s, $(echo "$n / ($sc + 0.001)" | bc) records per server CPU-second (load $(cut -d' ' -f1 /proc/loadavg))"
}
echo "== import AlmaLinux OSV ($(find "$data/osv/almalinux" -name '*.json' | wc -l) files)"; t 5637 "$pb" feeds import "$data/osv/almalinux"
echo "== import CISA KEV";  t 1404 "$pb" feeds import "$data/kev/known_exploited_vulnerabilities.json"
echo "== import EPSS";      t 360142 "$pb" feeds import "$data/epss/epss_scores-2026-08-16.csv"
echo "== re-import AlmaLinux (idempotent: 0 changed, unchanged records not parsed)"; t 5637 "$pb" feeds import "$data/osv/almalinux"
"$pb" feeds status
echo "server RSS: $(awk '/VmHWM/{print $2/1024 " MiB peak"}' /proc/$spid/status)"

root="$out/alpine"; mkdir -p "$root/etc" "$root/lib/apk/db"
printf 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.4.6\n' >"$root/etc/os-release"
echo alpine-34 >"$root/etc/hostname"
cp "$data/inventories/apk/trivy-apk.installed" "$root/lib/apk/db/installed"
feeds="$out/feeds"; mkdir -p "$feeds"
cp -r "$data/osv/almalinux" "$feeds/almalinux"
cp "$data/secdb/alpine/v3.4/main.json" "$feeds/alpine-v3.4-main.json"
cp "$data/kev/known_exploited_vulnerabilities.json" "$data/epss/epss_scores-2026-08-16.csv" "$feeds/"
ts() { local s=$(date +%s.%N); "$@"; echo "  ($(echo "$(date +%s.%N) - $s" | bc) s)"; }
echo "== scan, cold (reads every feed, writes the cache)"; ts "$pb" scan --root "$root" --feeds "$feeds" --cache-dir "$out/cache" --no-updates -o json >/dev/null
echo "== scan, prepared cache"; ts "$pb" scan --root "$root" --feeds "$feeds" --cache-dir "$out/cache" --no-updates | tail -n 5
