#!/usr/bin/env bash
# Benchmark: a rollout to HOSTS simulated hosts through the real server on
# SQLite. Three rings (canary 1%, early 10%, broad the rest, one group each),
# batch as a percentage of the wave, approved by a second user. Reports
# jobs dispatched and results handled per second, check-in (job poll) and
# job result latency as the agents saw them, end-to-end duration, server
# CPU seconds and peak RSS, and the load average while it ran.
#   bench/rollout.sh [HOSTS] [INTERVAL] [BATCH_PERCENT] [PACKAGES]
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${1:-10000}; INTERVAL=${2:-60s}; BATCH=${3:-10}; PACKAGES=${4:-100}
PORT=${PORT:-18453}
out=$(mktemp -d)
cleanup() {
	[ -n "${simpid:-}" ] && kill "$simpid" 2>/dev/null || true
	[ -n "${spid:-}" ] && kill "$spid" 2>/dev/null || true
	wait 2>/dev/null || true
	[ -n "${KEEP:-}" ] && echo "kept $out" || rm -rf "$out"
}
trap cleanup EXIT
go build -o "$out/patchbay" ./cmd/patchbay
pb() { "$out/patchbay" "$@"; } # not for background processes: $! must be the binary
db() { sqlite3 -readonly "file:$out/data/patchbay.db?mode=ro" "$@"; }
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14+$15)/hz}' "/proc/$spid/stat"; }
now() { date +%s.%N; }

"$out/patchbay" server --listen 127.0.0.1:$PORT --data-dir "$out/data" --feed-source none --checkin-interval "$INTERVAL" \
	>"$out/server.out" 2>"$out/server.log" &
spid=$!
for _ in $(seq 1 300); do grep -q "Patchbay server on" "$out/server.out" 2>/dev/null && break; sleep 0.1; done
export PATCHBAY_SERVER=https://127.0.0.1:$PORT PATCHBAY_CA="$out/data/ca.crt" PATCHBAY_TOKEN=$(cat "$out/data/admin.token")

canary=$(( (HOSTS + 99) / 100 )); early=$(( HOSTS / 10 )); broad=$(( HOSTS - canary - early ))
pb users create bob --role approver >/dev/null
cat >"$out/org.yaml" <<EOF
teams: [{name: sim, members: [{user: bob, role: approver}]}]
groups:
  - {name: canary, team: sim, selector: {labels: {ring: canary}}, stakeholder: bob, sysadmin: bob, criticality: 3, exposure: internal, ring: canary}
  - {name: early, team: sim, selector: {labels: {ring: early}}, stakeholder: bob, sysadmin: bob, criticality: 3, exposure: internal, ring: early}
  - {name: broad, team: sim, selector: {labels: {ring: broad}}, stakeholder: bob, sysadmin: bob, criticality: 3, exposure: internal, ring: broad}
rings: [canary, early, broad]
EOF
pb apply -f "$out/org.yaml" >/dev/null
fleet=()
for ring in canary early broad; do
	n=${!ring}
	fleet+=(--fleet "$n:$(pb enroll-token create --label fleet=sim --label ring=$ring --max-hosts "$n" --expires 4h)")
done
bob=$(pb tokens create bob --user bob --role approver)

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(date -u '+%F %H:%M') UTC; $(go version | cut -d' ' -f3)"
echo "hosts: $HOSTS (canary $canary, early $early, broad $broad), $PACKAGES packages each; check-in interval $INTERVAL; batch $BATCH% of each wave"
t0=$(now)
"$out/patchbay" sim "${fleet[@]}" --packages "$PACKAGES" --interval "$INTERVAL" --changes 0 --duration 4h --concurrency 8 --jobs \
	>"$out/sim.out" 2>"$out/sim.log" &
simpid=$!
until grep -q "fleet up" "$out/sim.log" 2>/dev/null; do
	kill -0 $simpid 2>/dev/null || { echo "sim exited:"; tail "$out/sim.log"; exit 1; }
	sleep 1
done
echo "fleet up: enroll + full report of $HOSTS hosts in $(printf %.0f "$(echo "$(now) - $t0" | bc)") s; server RSS $(awk '/VmRSS/{print int($2/1024)}' /proc/$spid/status) MiB, CPU $(cpu) s"
# Let the fleet's check-ins spread over one interval before the change,
# and measure what check-ins alone cost the server.
cpui=$(cpu); sleep "${INTERVAL%s}"
echo "server CPU for check-ins alone over one ${INTERVAL} interval before the change: $(echo "$(cpu) - $cpui" | bc) s"

cpu0=$(cpu); t1=$(now)
id=$(pb changes create "bash and busybox everywhere" --group canary --group early --group broad \
	--package bash@9.9-9 --package busybox@9.9-r9 --force-not-offered --batch-percent "$BATCH" --failure-percent 2 \
	--job-timeout 30m --ignore-windows -o json | jq -r .id)
t2=$(now)
pb changes submit "$id" >/dev/null
PATCHBAY_TOKEN=$bob pb changes approve "$id" >/dev/null
echo "change planned over $(db "SELECT json_array_length(plan, '\$.hosts') FROM changes WHERE id='$id'") hosts in $(printf %.2f "$(echo "$t2 - $t1" | bc)") s (server CPU $(echo "$(cpu) - $cpu0" | bc) s)"
cpu1=$(cpu); ts=$(now)
pb changes start "$id" >/dev/null
loads=()
state=running
while [ "$state" = running ]; do
	sleep 5
	state=$(db "SELECT state FROM changes WHERE id='$id'")
	loads+=("$(cut -d' ' -f1 /proc/loadavg)")
done
te=$(now); cpu2=$(cpu)
kill -TERM $simpid; wait $simpid || true; simpid=
echo "change ended $state after $(printf %.1f "$(echo "$te - $ts" | bc)") s (start to state change, polled every 5 s)"
db -separator ' ' "SELECT 'jobs', COUNT(*), 'done', SUM(status='done'), 'ok', SUM(json_extract(result,'\$.ok')=1) FROM jobs WHERE change_id='$id'"
db -separator ' ' "SELECT 'dispatch: first', MIN(created_at), 'last', MAX(created_at), 'rate/s', ROUND(COUNT(*)*1000.0/MAX(1,MAX(created_at)-MIN(created_at)),1),
	'; results: first', MIN(finished_at), 'last', MAX(finished_at), 'rate/s', ROUND(COUNT(finished_at)*1000.0/MAX(1,MAX(finished_at)-MIN(finished_at)),1)
	FROM jobs WHERE change_id='$id'"
db -separator ' ' "SELECT 'peaks: most jobs dispatched in one engine step', (SELECT MAX(n) FROM (SELECT COUNT(*) n FROM jobs WHERE change_id='$id' GROUP BY created_at)),
	'; most results stored in one second', (SELECT MAX(n) FROM (SELECT COUNT(*) n FROM jobs WHERE change_id='$id' AND finished_at IS NOT NULL GROUP BY finished_at/1000)),
	'; most results applied in one engine step', (SELECT COALESCE(MAX(CAST(detail AS INTEGER)), 1) FROM change_events WHERE change_id='$id' AND kind='step' AND detail LIKE '% results applied%')"
db -separator ' ' "WITH d AS (SELECT finished_at-created_at AS ms FROM jobs WHERE change_id='$id' AND finished_at IS NOT NULL ORDER BY 1),
	n AS (SELECT COUNT(*) c FROM d)
	SELECT 'job created to result stored (ms): p50', (SELECT ms FROM d LIMIT 1 OFFSET (SELECT c/2 FROM n)),
	'p99', (SELECT ms FROM d LIMIT 1 OFFSET (SELECT c*99/100 FROM n)), 'max', (SELECT MAX(ms) FROM d)"
echo "server CPU during the rollout: $(echo "$cpu2 - $cpu1" | bc) s over $(printf %.0f "$(echo "$te - $ts" | bc)") s; total $(cpu) s"
echo "server peak RSS (VmHWM): $(awk '/VmHWM/{print int($2/1024)}' /proc/$spid/status) MiB; now $(awk '/VmRSS/{print int($2/1024)}' /proc/$spid/status) MiB"
echo "load average (1 min) sampled every 5 s during the rollout: ${loads[*]}"
echo "database: $(du -cb "$out/data"/patchbay.db* | tail -n1 | awk '{print int($1/1048576)}') MiB"
grep -c "level=ERROR" "$out/server.log" | sed 's/^/server errors logged: /' || true
grep "level=ERROR" "$out/server.log" | sed 's/time=[^ ]* //' | sort | uniq -c | sort -rn | head -5 || true
grep -c "job result not applied" "$out/server.log" | sed 's/^/results the engine refused (late, or not in flight): /' || true
echo "--- sim report"
cat "$out/sim.out"
