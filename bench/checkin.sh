#!/usr/bin/env bash
# Benchmark: HOSTS simulated hosts of PACKAGES packages check in to one
# server on SQLite every INTERVAL for DURATION (issue 14's goal: 10,000 ×
# 1,000, 60s, at least 5m: delta p99 <= 50 ms, server CPU <= 25% of the
# machine, peak RSS <= 1 GiB, 0 errors).
#
#   bench/checkin.sh [HOSTS] [PACKAGES] [DURATION] [INTERVAL] [STATE_DIR]
#
# PORT (default 18443) is the server's port; the script stops if a server
# is already there.
#
# Without STATE_DIR everything lives in a temporary directory. With it, the
# server's data directory and the simulator's --state file are kept there:
# a later run with the same STATE_DIR (and the same HOSTS and PACKAGES)
# starts the same server data and resumes the enrolled fleet, so the
# enrollment of 10,000 hosts is paid once.
#
# The server runs at normal priority; the simulator, which shares the
# machine, runs under `nice -n 10` so that the server wins the CPU when
# both want it (it is not pinned with taskset: on 2 cores that would
# halve what the server may use).
#
# PROFILE=SECONDS also builds with -tags pprof and takes a CPU profile of
# the server over that many seconds of the delta phase
# (checkin-cpu.pprof beside the state, or in the current directory).
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${1:-2000}; PACKAGES=${2:-1000}; DURATION=${3:-180s}; INTERVAL=${4:-60s}; STATE_DIR=${5:-}
PORT=${PORT:-18443}
tmp=$(mktemp -d)
spid=
cleanup() { [ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
dir=${STATE_DIR:-$tmp}
mkdir -p "$dir"
tags=(); [ -n "${PROFILE:-}" ] && tags=(-tags pprof)
nice -n 10 go build "${tags[@]}" -o "$tmp/patchbay" ./cmd/patchbay

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(date -u '+%F %T') UTC; commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "load before: $(uptime)"
PATCHBAY_PPROF=${PROFILE:+127.0.0.1:16060} "$tmp/patchbay" server --listen "127.0.0.1:$PORT" --data-dir "$dir/data" \
	--checkin-interval "$INTERVAL" --feed-source none >"$tmp/server.out" 2>"$dir/server.log" &
spid=$!
for _ in $(seq 1 300); do grep -q "Patchbay server on" "$tmp/server.out" 2>/dev/null && break; sleep 0.1; done
if ! grep -q "Patchbay server on" "$tmp/server.out" || ! kill -0 "$spid" 2>/dev/null; then
	echo "the server did not start (another on port $PORT? set PORT):" >&2; tail -n 5 "$dir/server.log" >&2; exit 1
fi
export PATCHBAY_SERVER=https://127.0.0.1:$PORT PATCHBAY_CA="$dir/data/ca.crt" PATCHBAY_TOKEN=$(cat "$dir/data/admin.token")
sim=(nice -n 10 "$tmp/patchbay" sim --hosts "$HOSTS" --packages "$PACKAGES" --interval "$INTERVAL" --concurrency 8 --state "$dir/sim.state")

metric() { { curl -sk --cacert "$PATCHBAY_CA" -H "Authorization: Bearer $PATCHBAY_TOKEN" "$PATCHBAY_SERVER/metrics" || true; } | awk -v m="$1" '$1==m{print $2}'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$spid/stat"; }

# Phase 1: enroll and send full reports (a resumed fleet skips both).
if [ -f "$dir/sim.state" ]; then
	echo "resuming the fleet in $dir/sim.state"
	"${sim[@]}" --duration 0 >"$tmp/enroll.out" 2>"$dir/sim-enroll.log"
else
	token=$("$tmp/patchbay" enroll-token create --max-hosts "$HOSTS" --expires 4h 2>/dev/null)
	"${sim[@]}" --enroll-token "$token" --duration 0 >"$tmp/enroll.out" 2>"$dir/sim-enroll.log"
fi
grep -E "^(hosts|enrollment|full reports|enroll\+full)" "$tmp/enroll.out"

# The full reports marked every host to reconcile; the delta phase starts
# once the server has worked through them, so it measures the steady state.
t0=$(date +%s)
for _ in $(seq 1 600); do
	q=$(metric patchbay_reconcile_queue); [ "${q:-1}" = 0 ] && break; sleep 1
done
echo "reconcile set drained in $(( $(date +%s) - t0 )) s (left: ${q:-?})"

# Phase 2: deltas at the interval, with the server's CPU measured over it.
ticks0=$(cpu_ticks); s0=$(date +%s.%N)
ppid_=
if [ -n "${PROFILE:-}" ]; then
	( sleep 20; curl -s -o "${STATE_DIR:-.}/checkin-cpu.pprof" "http://127.0.0.1:16060/debug/pprof/profile?seconds=$PROFILE" ) &
	ppid_=$!
fi
"${sim[@]}" --duration "$DURATION" >"$tmp/delta.out" 2>"$dir/sim-delta.log"
ticks1=$(cpu_ticks); s1=$(date +%s.%N)
[ -n "$ppid_" ] && wait "$ppid_"
grep -E "^delta check-ins" "$tmp/delta.out"
awk -v t="$((ticks1 - ticks0))" -v hz="$(getconf CLK_TCK)" -v s0="$s0" -v s1="$s1" -v n="$(nproc)" \
	'BEGIN{cpu=t/hz; printf "server CPU over the delta phase: %.1f s in %.0f s = %.1f%% of the machine (%d cores)\n", cpu, s1-s0, 100*cpu/((s1-s0)*n), n}'
rss=$(awk '/VmHWM/{print $2}' "/proc/$spid/status")
db=$(du -cb "$dir/data"/patchbay.db* | tail -n1 | cut -f1)
echo "server peak RSS: $((rss/1024)) MiB ($((rss/HOSTS)) KiB per host)"
echo "database size: $((db/1024/1024)) MiB ($((db/HOSTS/1024)) KiB per host)"
echo "server errors logged: $(grep -c 'level=ERROR' "$dir/server.log" || true)"
echo "load after: $(uptime)"
