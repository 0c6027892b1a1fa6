#!/usr/bin/env bash
# Benchmark: the lean agent's size and idle cost. Builds patchbay and
# patchbay-agent stripped, starts a server (--feed-source none), enrolls a
# patchbay-agent for this machine (--root /) and samples its RSS and CPU
# over DURATION seconds after its first report, at the given check-in
# interval. CPU is the agent's own plus that of the commands it ran
# (dpkg-query, apt-get -s ...).
#   bench/agent.sh [DURATION_SECONDS] [INTERVAL]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-600}; INTERVAL=${2:-60s}
out=$(mktemp -d); trap 's=$?; [ $s -ne 0 ] && tail -5 "$out/agent.log" >&2; kill $apid $spid 2>/dev/null || true; wait 2>/dev/null; rm -rf "$out"' EXIT
apid=""; spid=""
CGO_ENABLED=0 go build -ldflags='-s -w' -o "$out/patchbay-agent" ./cmd/patchbay-agent
CGO_ENABLED=0 go build -ldflags='-s -w' -o "$out/patchbay" ./cmd/patchbay
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F); $(go version | cut -d' ' -f3)"
echo "stripped size: patchbay-agent $(stat -c %s "$out/patchbay-agent") bytes, patchbay $(stat -c %s "$out/patchbay") bytes"
"$out/patchbay" server --listen 127.0.0.1:18444 --data-dir "$out/data" --feed-source none --checkin-interval "$INTERVAL" >"$out/server.out" 2>"$out/server.log" &
spid=$!
for _ in $(seq 1 100); do grep -q "Patchbay server on" "$out/server.out" 2>/dev/null && break; sleep 0.1; done
export PATCHBAY_SERVER=https://127.0.0.1:18444 PATCHBAY_CA="$out/data/ca.crt" PATCHBAY_TOKEN=$(cat "$out/data/admin.token")
token=$("$out/patchbay" enroll-token create --max-hosts 1 --expires 1h)
touch "$out/none.yaml" # an empty config file: settings from the flags
"$out/patchbay-agent" --config "$out/none.yaml" --enroll-token "$token" --state-dir "$out/agent" --hooks "$out/no-hooks.json" 2>"$out/agent.log" &
apid=$!
for _ in $(seq 1 600); do grep -q "level=INFO" "$out/agent.log" && "$out/patchbay" hosts list -o json | grep -q '"package_count": *[1-9]' && break; sleep 0.5; done
sleep 5 # let the first report's work settle
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15+$16+$17}' /proc/$apid/stat; }
own() { awk '{print $14+$15}' /proc/$apid/stat; }
rss() { awk '/VmRSS/{print $2}' /proc/$apid/status; }
c0=$(cpu); o0=$(own); r0=$(rss); t0=$(date +%s)
echo "agent RSS after the first report: $((r0)) KiB"
samples="$r0"
while [ $(( $(date +%s) - t0 )) -lt "$DURATION" ]; do sleep 60; samples="$samples $(rss)"; done
c1=$(cpu); o1=$(own); r1=$(rss); t1=$(date +%s)
echo "agent RSS samples (KiB, every 60 s): $samples"
echo "agent RSS at the end: $r1 KiB; peak (VmHWM): $(awk '/VmHWM/{print $2}' /proc/$apid/status) KiB"
awk -v c=$((c1-c0)) -v o=$((o1-o0)) -v tck="$tck" -v s=$((t1-t0)) 'BEGIN{printf "agent CPU over %d s: %.2f s = %.4f%% of a core (agent process %.2f s, commands it ran %.2f s)\n", s, c/tck, 100*c/tck/s, o/tck, (c-o)/tck}'
echo "check-ins in the window: about $(( (t1-t0) / ${INTERVAL%s} ))"
grep -c "level=ERROR" "$out/agent.log" | sed 's/^/agent errors logged: /' || true
