#!/usr/bin/env bash
# The app on SpinKube's node runtime: containerd with containerd-shim-spin v0.24.0 (Spin
# 3.6.3 inside, no cron trigger), driven as a platform without cron would drive it.
#
#   tests/shim/run.sh sqlite     one container, the shim's default SQLite store
#   tests/shim/run.sh redis      two containers (two replicas, two ports) on one Redis
#
# Run from the repository root after building the components (`./dev test-real` does;
# or `cargo build --target wasm32-wasip2 --release $(./dev components)`).
#
# What it does:
#  - the shim from SHIM_BIN_DIR (./dev installs it, with Debian's containerd and zstd);
#  - a root folder per container in a temp dir: spin.toml at its root, each component's
#    .wasm at the relative path its `source` names, /runtime-config.toml for Redis;
#  - containerd in its own root, state and socket (own process group), then
#    `ctr run --rm --net-host --runtime io.containerd.spin.v2` with
#    SPIN_COMPONENTS_TO_RETAIN = every component with an HTTP trigger in spin.toml (so
#    the cron component is left out) and the shortened timings of `./dev`'s serve_app;
#  - background work as an external scheduler drives it: on SQLite a single tick
#    (POST /admin/v1/engine/tick) every ~0.3 s; on Redis each replica is called with
#    ?seconds=55 again as soon as the last call returns (a once-a-minute scheduler,
#    compressed). Every answer is logged; a non-2xx answer fails the run;
#  - the end-to-end contract `external_app` of tests/e2e/tests/real_spin.rs, then the SDK
#    suite (tests/sdk), against the running app (admin token: the e2e's own);
#  - stops everything it started (also on failure or Ctrl-C) and checks that no
#    containerd or shim process of its own is left.
# The last line: `shim (STORE): N passed, M failed` over its stages (e2e, SDK suite,
# tick loop health, replicas up to the end and a clean stop). SHIM_KEEP=1 keeps the temp
# dir (the app's output, containerd's log, every tick answer) and prints where it is.
set -euo pipefail
cd "$(dirname "$0")/../.."

store=${1:-}
case "$store" in
  sqlite | redis) ;;
  *) echo "usage: tests/shim/run.sh sqlite|redis" >&2; exit 2 ;;
esac

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# containerd's log without its start-up chatter.
containerd_tail() { grep -vE 'loading plugin|msg=serving|successfully booted' "$tmp/containerd.log" | tail -20 >&2 || true; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_start=$(now)

# ---------------------------------------------------------------- what the run needs
# The manifest: the components with an HTTP trigger (what the shim can run) and every
# component's source (the manifest must stay whole, the cron component included).
manifest=$(python3 - spin.toml <<'EOF'
import sys, tomllib
m = tomllib.load(open(sys.argv[1], "rb"))
http = []
for t in m.get("trigger", {}).get("http", []):
    c = t["component"]
    if not isinstance(c, str):
        sys.exit("an inline component in a trigger is not supported here")
    if c not in http:
        http.append(c)
print(",".join(http))
for cid, c in m.get("component", {}).items():
    src = c["source"]
    if not isinstance(src, str):
        sys.exit(f"component {cid}: only a local .wasm source is supported here")
    print(src)
EOF
)
retain=$(head -1 <<<"$manifest")
mapfile -t sources < <(tail -n +2 <<<"$manifest")
for src in "${sources[@]}"; do
  if [ ! -f "$src" ]; then
    echo "$src is missing: build the components first (cargo build --target wasm32-wasip2 --release \$(./dev components))" >&2
    exit 1
  fi
done

if ! command -v redis-server >/dev/null 2>&1 && [ "$store" = redis ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing redis-server"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server is missing: install it (Debian/Ubuntu: sudo apt-get install redis-server)" >&2
    exit 1
  fi
fi

# The folder holding containerd-shim-spin-v2 (./dev sets it from the runtime it installs).
B=${SHIM_BIN_DIR:?set SHIM_BIN_DIR to the folder that holds containerd-shim-spin-v2 (./dev test does)}

# The SDK suite's virtualenv (as ./dev's venv_with), seed-demo, the e2e test binary.
venv=target/sdk-venv reqs=tests/sdk/requirements.txt
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$reqs" "$venv/requirements.txt"; then
  say "installing $reqs into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs"
  cp "$reqs" "$venv/requirements.txt"
fi
say "building seed-demo and the e2e test (catalog-e2e)"
cargo build -q -p catalog-e2e --bin seed-demo
# have_e2e: 1 the contract test exists, 0 it does not (yet), 2 the test did not build.
have_e2e=0
if e2e_list=$(cargo test -q -p catalog-e2e --test real_spin -- --ignored --list); then
  grep -q 'external_app' <<<"$e2e_list" && have_e2e=1
else
  have_e2e=2
fi

# The admin token: the e2e contract (external_app) drives the app with its own fixed one,
# catalog_e2e::ADMIN_TOKEN (a loopback-only test app).
admin=$(sed -n 's/^pub const ADMIN_TOKEN: &str = "\(.*\)";$/\1/p' tests/e2e/src/lib.rs)
[ -n "$admin" ] || { echo "no ADMIN_TOKEN in tests/e2e/src/lib.rs" >&2; exit 1; }
# The replicas share one store, so one sealing key for AccessKey secrets.
secrets_key=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')

# ---------------------------------------------------------------- teardown
tmp=$(mktemp -d)
cdir="$tmp/containerd"
sock="$cdir/c.sock"
ns=image-catalog
containerd_pid="" redis_pid=""
ids=() ctr_pids=() ports=() loop_pids=() loop_names=()
ctr_() { timeout 30 ctr --address "$sock" --namespace "$ns" "$@"; }

stop_loops() {
  local p
  : >"$tmp/stop"
  for p in "${loop_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${loop_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  loop_pids=()
}

teardown_done=0
leftover=""
teardown() {
  [ "$teardown_done" = 1 ] && return 0
  teardown_done=1
  set +e
  stop_loops
  local id p i
  if [ -n "$containerd_pid" ]; then
    for id in "${ids[@]}"; do
      ctr_ task kill -s SIGKILL "$id" >/dev/null 2>&1
    done
    # `ctr run --rm` removes its container once its task is gone.
    for p in "${ctr_pids[@]}"; do
      for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill "$p" 2>/dev/null; wait "$p" 2>/dev/null
    done
    for id in "${ids[@]}"; do
      if ctr_ task ls -q 2>/dev/null | grep -qx "$id"; then ctr_ task rm -f "$id" >/dev/null 2>&1; fi
      if ctr_ container ls -q 2>/dev/null | grep -qx "$id"; then ctr_ container rm "$id" >/dev/null 2>&1; fi
    done
    kill -TERM -- "-$containerd_pid" 2>/dev/null
    for i in $(seq 1 100); do kill -0 "$containerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$containerd_pid" 2>/dev/null
    wait "$containerd_pid" 2>/dev/null
  fi
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; fi
  # Nothing of ours may be left: containerd and the shims name our socket or state dir.
  sleep 0.5
  leftover=$(pgrep -f -- "$tmp/" | grep -vx "$$" || true)
  if [ -n "$leftover" ]; then
    echo "left running after the stop:" >&2
    for p in $leftover; do ps -o pid=,args= -p "$p" >&2; done
    for p in $leftover; do kill -KILL "$p" 2>/dev/null; done
  fi
  umount_all
  if [ "${SHIM_KEEP:-}" = 1 ]; then echo "logs kept in $tmp" >&2; else rm -rf "$tmp"; fi
  set -e
}
# Mounts a container's root may leave behind (none were seen; safe when there are none).
umount_all() {
  local m
  awk -v t="$tmp/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}
trap teardown EXIT
trap 'exit 130' INT TERM

prepare_s=$(since "$run_start")

# ---------------------------------------------------------------- start
served_start=$(now)
say "containerd ($(containerd --version | awk '{print $3}')) with containerd-shim-spin v0.24.0 ($store)"
mkdir -p "$cdir/root" "$cdir/state" "$cdir/opt"
cat >"$cdir/config.toml" <<EOF
version = 2
root = "$cdir/root"
state = "$cdir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$cdir/opt"
EOF
t0=$(now)
PATH="$B:$PATH" setsid containerd --config "$cdir/config.toml" >"$tmp/containerd.log" 2>&1 </dev/null &
containerd_pid=$!
for _ in $(seq 1 200); do
  ctr_ version >/dev/null 2>&1 && break
  kill -0 "$containerd_pid" 2>/dev/null || break
  sleep 0.1
done
if ! ctr_ version >/dev/null 2>&1; then
  echo "containerd did not start" >&2; containerd_tail; exit 1
fi
containerd_s=$(since "$t0")

redis_url=""
if [ "$store" = redis ]; then
  rport=$(free_port)
  mkdir -p "$tmp/redis"
  redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp/redis" \
    >"$tmp/redis.log" 2>&1 </dev/null &
  redis_pid=$!
  redis_url="redis://127.0.0.1:$rport"
  for _ in $(seq 1 50); do
    redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
fi

# start_app ID: a root folder and a container serving it on a free port.
start_app() {
  local id=$1 root="$tmp/rootfs-$1" port src env=()
  mkdir -p "$root"
  cp spin.toml "$root/spin.toml"
  for src in "${sources[@]}"; do
    mkdir -p "$root/$(dirname "$src")"
    cp "$src" "$root/$src"
  done
  port=$(free_port)
  env=(--env "SPIN_HTTP_LISTEN_ADDR=127.0.0.1:$port"
    --env "SPIN_VARIABLE_ADMIN_TOKEN=$admin"
    --env "SPIN_VARIABLE_SECRETS_KEY=$secrets_key"
    --env "SPIN_COMPONENTS_TO_RETAIN=$retain"
    --env SPIN_VARIABLE_STEP_MS=300 --env SPIN_VARIABLE_POLL_MS=300
    --env SPIN_VARIABLE_BACKOFF_MS=300 --env SPIN_VARIABLE_BUCKET_MS=1000)
  if [ "$store" = redis ]; then
    printf '[key_value_store.default]\ntype = "redis"\nurl = "%s"\n' "$redis_url" >"$root/runtime-config.toml"
    # Spin's Redis store breaks batch reads (docs/runtime-facts.md R8).
    env+=(--env SPIN_VARIABLE_STORE_BATCH_READS=false)
  fi
  ctr_pids+=("")  # placeholder so teardown sees the id even if ctr fails at once
  ids+=("$id")
  # No `timeout` here: `ctr run` lives as long as the container.
  ctr --address "$sock" --namespace "$ns" run --rm --net-host --runtime io.containerd.spin.v2 \
    "${env[@]}" --rootfs "$root" "$id" / >"$tmp/app-$id.log" 2>&1 </dev/null &
  ctr_pids[${#ctr_pids[@]}-1]=$!
  ports+=("$port")
}

# wait_healthy URL CTR_PID LOG: /healthz answers 2xx within 60 s.
wait_healthy() {
  local url=$1 pid=$2 log=$3
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null --max-time 2 "$url/healthz" 2>/dev/null && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "the container exited before it served /healthz:" >&2; tail -30 "$log" >&2
      containerd_tail
      return 1
    fi
    sleep 0.1
  done
  echo "/healthz did not answer within 60 s:" >&2; tail -30 "$log" >&2; containerd_tail
  return 1
}

replicas=(a)
[ "$store" = redis ] && replicas=(a b)
urls=()
startup=()
for r in "${replicas[@]}"; do
  t0=$(now)
  start_app "catalog-$r"
  i=$((${#ports[@]} - 1))
  urls+=("http://127.0.0.1:${ports[$i]}")
  wait_healthy "${urls[$i]}" "${ctr_pids[$i]}" "$tmp/app-catalog-$r.log"
  startup+=("$(since "$t0")")
  say "replica $r serving ${urls[$i]} (started in ${startup[$i]} s; retained: $retain)"
done
curl -sS "${urls[0]}/healthz" >"$tmp/healthz.json" 2>/dev/null || true

# ---------------------------------------------------------------- the scheduler
# tick_loop NAME URL QUERY PAUSE: one line per answer, "TIME HTTP_CODE BODY", in
# $tmp/ticks-NAME.log; a TERM ends the call in flight and the loop.
tick_loop() {
  local url=$2 query=$3 pause=$4 log="$tmp/ticks-$1.log" body="$tmp/tick-$1.body" cpid code
  trap '[ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null; exit 0' TERM
  : >"$log"
  while [ ! -e "$tmp/stop" ]; do
    curl -sS -o "$body" -w '%{http_code}' --max-time 120 -X POST \
      -H "Authorization: Bearer $admin" "$url/admin/v1/engine/tick$query" >"$body.code" 2>>"$log.err" &
    cpid=$!
    wait "$cpid" || true
    cpid=""
    code=$(cat "$body.code" 2>/dev/null); code=${code:-000}
    printf '%s %s %s\n' "$(date +%T.%3N)" "$code" "$(tr -d '\n' <"$body" 2>/dev/null)" >>"$log"
    case $code in
      2??) [ "$pause" = 0 ] || sleep "$pause" ;;
      *) sleep 1 ;; # a refused call is logged (and fails the run); do not spin on it
    esac
  done
}
if [ "$store" = sqlite ]; then
  tick_loop a "${urls[0]}" "" 0.3 &
  loop_pids+=($!) loop_names+=(a)
else
  for i in "${!replicas[@]}"; do
    tick_loop "${replicas[$i]}" "${urls[$i]}" "?seconds=55" 0 &
    loop_pids+=($!) loop_names+=("${replicas[$i]}")
  done
fi

# ---------------------------------------------------------------- the suites
passed=0 failed=0 results=()
stage() { # NAME RC
  if [ "$2" = 0 ]; then passed=$((passed + 1)); results+=("$1: passed"); else failed=$((failed + 1)); results+=("$1: FAILED"); fi
}

# The end-to-end scenarios through the contract `external_app` (tests/e2e), against the
# last replica (on Redis the other one than the SDK suite's: the same app). They run
# first: the SDK suite leaves shared (platform) images behind, which every org lists,
# and the e2e scenarios count an org's images (imagemgmt::orgs_are_isolated,
# deleting_the_last_version_removes_the_image fail after it); the SDK suite works in an
# org of its own and does not mind what the e2e scenarios leave.
e2e_url=${urls[${#urls[@]}-1]}
if [ "$have_e2e" = 1 ]; then
  say "end-to-end scenarios (real_spin external_app) at $e2e_url"
  rc=0
  t0=$(now)
  IMAGE_CATALOG_URL="$e2e_url" IMAGE_CATALOG_ADMIN_TOKEN="$admin" \
    cargo test -q -p catalog-e2e --test real_spin -- --ignored external_app 2>&1 | tee "$tmp/e2e.log" || rc=$?
  # A filter that matched nothing runs 0 tests and "passes": that is a failure here.
  if [ "$rc" = 0 ] && ! grep -qE 'test result: ok\. [1-9][0-9]* passed' "$tmp/e2e.log"; then
    echo "e2e: no external_app test ran" >&2; rc=1
  fi
  stage "e2e external_app ($(since "$t0") s)" "$rc"
elif [ "$have_e2e" = 2 ]; then
  stage "e2e external_app (the test did not build)" 1
else
  say "e2e: tests/e2e/tests/real_spin.rs has no external_app test yet: NOT run"
  results+=("e2e external_app: not run (no such test yet)")
fi

# The SDK suite against the first replica (after seeding an org, as ./dev does).
sdk_url=${urls[0]}
rc=0
t0=$(now)
if ! SPIN_VARIABLE_ADMIN_TOKEN="$admin" target/debug/seed-demo --url "$sdk_url" --org shim >"$tmp/seed.log" 2>&1; then
  echo "seed-demo failed:" >&2; cat "$tmp/seed.log" >&2; rc=1
fi
if [ "$rc" = 0 ]; then
  say "SDK suite on the shim ($store) at $sdk_url"
  IMAGE_CATALOG_URL="$sdk_url" IMAGE_CATALOG_ADMIN_TOKEN="$admin" \
    IMAGE_CATALOG_REQUIRED=1 IMAGE_CATALOG_WAIT_SECONDS=60 \
    "$venv/bin/pytest" -q -p no:cacheprovider tests/sdk || rc=$?
  # pytest exits 5 when it collected nothing: a test that went missing must not pass.
  [ "$rc" = 5 ] && echo "tests/sdk: pytest collected no test" >&2
fi
stage "SDK suite ($(since "$t0") s)" "$rc"

# The scheduler: each loop must have finished at least one call (on Redis a call lasts 55 s).
for n in "${loop_names[@]}"; do
  for _ in $(seq 1 700); do
    [ -s "$tmp/ticks-$n.log" ] && break
    sleep 0.1
  done
done
stop_loops
rc=0
summary=""
for n in "${loop_names[@]}"; do
  log="$tmp/ticks-$n.log"
  read -r calls bad ticks transitions purges failed_ticks < <(python3 - "$log" <<'EOF'
import json, sys
calls = bad = ticks = transitions = purges = failed = 0
for line in open(sys.argv[1]):
    parts = line.rstrip("\n").split(" ", 2)
    calls += 1
    if not parts[1].startswith("2"):
        bad += 1
        continue
    try:
        b = json.loads(parts[2])
    except Exception:
        bad += 1
        continue
    ticks += b.get("ticks", 0); transitions += b.get("transitions", 0)
    purges += b.get("purges", 0); failed += b.get("failedTicks", 0)
print(calls, bad, ticks, transitions, purges, failed)
EOF
  )
  summary+=" [$n: $calls calls, $bad non-2xx, $ticks ticks, $transitions transitions, $purges purges, $failed_ticks failed ticks]"
  if [ "$calls" = 0 ] || [ "$bad" != 0 ]; then
    rc=1
    echo "tick loop $n: $calls answers, $bad not 2xx; first bad ones:" >&2
    awk '$2 !~ /^2/' "$log" | head -5 >&2
    [ -s "$log.err" ] && tail -5 "$log.err" >&2
  fi
done
stage "tick loop health$summary" "$rc"

if [ "$failed" != 0 ]; then
  for r in "${replicas[@]}"; do
    echo "--- the app's output, replica $r (last 40 lines) ---" >&2
    tail -40 "$tmp/app-catalog-$r.log" >&2
  done
  echo "--- containerd (last 20 lines) ---" >&2; containerd_tail
fi

# ---------------------------------------------------------------- stop
# Every replica must still be serving: on the shim a panic in the host (not the guest)
# ends the whole container (seen with Redis' one-key get-many, docs/runtime-facts.md R8).
down=""
for i in "${!replicas[@]}"; do
  kill -0 "${ctr_pids[$i]}" 2>/dev/null || down+=" ${replicas[$i]}"
done
[ -z "$down" ] || echo "replica(s)$down exited during the run" >&2
t0=$(now)
teardown
stop_s=$(since "$t0")
served_s=$(since "$served_start")
if [ -n "$leftover" ] || [ -n "$down" ]; then
  stage "replicas up to the end, clean stop" 1
else
  stage "replicas up to the end, clean stop (${stop_s} s)" 0
fi

for line in "${results[@]}"; do echo "  $line"; done
echo "  times: prepare (install, venv, builds) ${prepare_s} s; containerd ready ${containerd_s} s;" \
  "start-up (ctr run to /healthz) ${startup[*]} s; served (containerd start to all stopped) ${served_s} s;" \
  "whole run $(since "$run_start") s"
echo "shim ($store): $passed passed, $failed failed"
[ "$failed" = 0 ]
