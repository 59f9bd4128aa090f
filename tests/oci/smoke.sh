#!/usr/bin/env bash
# The app as an OCI artifact, on the real Spin runtime: pushed to a local registry and run
# from it, the way a platform that deploys from a registry runs it.
#
#   SPIN_BIN=/path/to/spin tests/oci/smoke.sh      (from the repository root; ./dev sets it)
#
# Needs the components built (`cargo build --target wasm32-wasip2 --release $(./dev
# components)`), SPIN_BIN (Spin 4.x with the trigger-cron plugin), curl, python3 and
# Debian's `docker-registry` (installed here with apt-get when run as root).
#
# 1. starts `docker-registry serve` on a free loopback port (plain HTTP, no auth, storage in
#    a temp dir), in its own process group;
# 2. `spin registry push --insecure 127.0.0.1:PORT/image-catalog:smoke`;
# 3. `spin up -f 127.0.0.1:PORT/image-catalog:smoke --insecure` with a fresh state dir and
#    cache dir (both in the temp dir), in its own process group, until /healthz answers;
# 4. through the pulled app: an org, its REST token and inventory through the admin API,
#    an image created and listed through the REST door, and /healthz's cron tick count
#    rising (the cron trigger runs from the artifact too);
# 5. stops both groups (SIGTERM, then SIGKILL after a grace period: tests/lib/procs.sh) and
#    checks no process of the run is left.
# Last line: `oci smoke: 1 passed, 0 failed`, or `oci smoke: 0 passed, 1 failed` (exit 1)
# after the tail of every log.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/lib/procs.sh
. tests/lib/procs.sh

READY_SECONDS=${OCI_SMOKE_READY_SECONDS:-90} # spin up: pull, compile, serve /healthz
TICK_SECONDS=${OCI_SMOKE_TICK_SECONDS:-10}   # for the cron tick count to rise

say() { printf '==> %s\n' "$*" >&2; }

# ---------------------------------------------------------------- prerequisites
if [ -z "${SPIN_BIN:-}" ]; then
  echo "SPIN_BIN is not set: SPIN_BIN=<a spin 4.x with trigger-cron> $0" >&2
  exit 2
fi
for tool in curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is missing" >&2; exit 2; }
done
if ! "$SPIN_BIN" plugins list --installed 2>/dev/null | grep -q '^trigger-cron'; then
  echo "$SPIN_BIN has no trigger-cron plugin (spin plugins install trigger-cron)" >&2
  exit 2
fi
while read -r src; do
  if [ ! -f "$src" ]; then
    echo "$src is missing: build the components first (cargo build --target wasm32-wasip2 --release \$(./dev components))" >&2
    exit 2
  fi
done < <(grep -oE '^source = "target/wasm32-wasip2/release/[a-z0-9_-]+\.wasm"' spin.toml | cut -d'"' -f2)
REGISTRY_BIN=/usr/bin/docker-registry
if [ ! -x "$REGISTRY_BIN" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's docker-registry (a local OCI registry for this smoke)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null
    # The package starts its own service where there is an init system: this smoke
    # runs its own registry and leaves that one alone.
  else
    echo "$REGISTRY_BIN is missing: install it (Debian/Ubuntu: sudo apt-get install docker-registry)" >&2
    exit 2
  fi
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---------------------------------------------------------------- run state and cleanup
tmp=$(mktemp -d "${TMPDIR:-/tmp}/oci-smoke.XXXXXX")
registry_pg="" spin_pg="" passed=0 started=$SECONDS

# Stops what was started, checks nothing of this run is left (every process started here
# names $tmp on its command line: the registry its config, spin and its triggers their
# state dir), prints the verdict.
finish() {
  local rc=$? clean=1
  trap - EXIT INT TERM
  set +e
  if [ -n "$spin_pg" ]; then stop_group "$spin_pg" 10 || clean=0; fi
  if [ -n "$registry_pg" ]; then stop_group "$registry_pg" 5 || clean=0; fi
  assert_no_strays "$tmp" || clean=0
  if [ "$passed" = 1 ] && [ "$rc" = 0 ] && [ "$clean" = 1 ]; then
    rm -rf "$tmp"
    echo "oci smoke: 1 passed, 0 failed ($((SECONDS - started)) s)"
    exit 0
  fi
  [ "$clean" = 1 ] || echo "FAIL: processes of the run were left behind (above)" >&2
  for f in "$tmp"/*.log "$tmp"/state/logs/*; do
    [ -s "$f" ] || continue
    echo "--- ${f#"$tmp"/} (last 30 lines) ---" >&2
    tail -30 "$f" >&2
  done
  rm -rf "$tmp"
  echo "oci smoke: 0 passed, 1 failed"
  exit 1
}
trap finish EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# HTTP: `call METHOD URL TOKEN [JSON]` leaves the body in $tmp/body, prints the status.
call() {
  local method=$1 url=$2 token=$3 body=${4:-}
  local args=(-sS -m 10 -o "$tmp/body" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token")
  if [ -n "$body" ]; then args+=(-H 'content-type: application/json' --data "$body"); fi
  curl "${args[@]}" "$url" || echo 000
}
is_2xx() { case "$1" in 2??) return 0 ;; *) return 1 ;; esac; }
# `field PATH` prints the JSON field at dotted PATH of $tmp/body (empty when absent).
field() {
  python3 - "$1" "$tmp/body" <<'PY'
import json, sys
try:
    v = json.load(open(sys.argv[2]))
    for k in sys.argv[1].split("."):
        v = v[int(k)] if isinstance(v, list) else v[k]
    print(v)
except Exception:
    print("")
PY
}
body() { head -c 600 "$tmp/body"; }

# ---------------------------------------------------------------- 1. the registry
rport=$(free_port)
mkdir -p "$tmp/registry"
cat >"$tmp/registry.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $tmp/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$rport
  secret: oci-smoke-only
YML
say "docker-registry on 127.0.0.1:$rport"
start_group "$tmp/registry.log" "$REGISTRY_BIN" serve "$tmp/registry.yml"
registry_pg=$START_GROUP_PID
for _ in $(seq 1 100); do
  curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$rport/v2/" 2>/dev/null && break
  kill -0 "$registry_pg" 2>/dev/null || fail "docker-registry exited"
  sleep 0.1
done
curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$rport/v2/" || fail "the registry does not answer /v2/"

# ---------------------------------------------------------------- 2. push
ref="127.0.0.1:$rport/image-catalog:smoke"
say "spin registry push --insecure $ref"
"$SPIN_BIN" registry push --insecure --cache-dir "$tmp/push-cache" -f spin.toml "$ref" \
  >"$tmp/push.log" 2>&1 || fail "spin registry push failed"
status=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' \
  -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://127.0.0.1:$rport/v2/image-catalog/manifests/smoke")
[ "$status" = 200 ] || fail "the registry has no manifest image-catalog:smoke after the push ($status)"

# ---------------------------------------------------------------- 3. spin up -f
aport=$(free_port)
admin="oci-smoke-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
base="http://127.0.0.1:$aport"
mkdir -p "$tmp/state" "$tmp/cache"
say "spin up -f $ref --insecure on 127.0.0.1:$aport"
# --state-dir: a remote app has none by default, and without one each trigger process
# gets a store of its own (the cron's ticks would not show in /healthz).
SPIN_VARIABLE_SECRETS_KEY=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n') \
SPIN_VARIABLE_ADMIN_TOKEN="$admin" start_group "$tmp/spin-up.log" \
  "$SPIN_BIN" up -f "$ref" --insecure --listen "127.0.0.1:$aport" \
  --state-dir "$tmp/state" --cache-dir "$tmp/cache"
spin_pg=$START_GROUP_PID
deadline=$((SECONDS + READY_SECONDS))
until [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$base/healthz" || true)" = 200 ]; do
  kill -0 "$spin_pg" 2>/dev/null || fail "spin up exited before serving"
  [ "$SECONDS" -lt "$deadline" ] || fail "spin up did not answer /healthz within ${READY_SECONDS}s"
  sleep 0.5
done
say "serving after $((SECONDS - started)) s"

# ---------------------------------------------------------------- 4. the app
status=$(call GET "$base/healthz" "$admin")
is_2xx "$status" || fail "/healthz: $status"
[ "$(field app)" = image-catalog ] || fail "/healthz is not the app's: $(body)"
ticks0=$(field cron.lastTick.count)
ticks0=${ticks0:-0}

org="oci-smoke"
status=$(call PUT "$base/admin/v1/orgs/$org" "$admin" "{\"name\":\"$org\"}")
is_2xx "$status" || fail "PUT /admin/v1/orgs/$org: $status $(body)"
status=$(call PUT "$base/admin/v1/orgs/$org/provider-instances/pi-1" "$admin" \
  '{"providerLabel":"AZURE","region":"westeurope"}')
is_2xx "$status" || fail "PUT provider instance: $status $(body)"
status=$(call PUT "$base/admin/v1/orgs/$org/gallery-images/g-1" "$admin" \
  '{"osType":"WINDOWS","gpuType":"NONE","grantedTo":["pi-1"]}')
is_2xx "$status" || fail "PUT gallery image: $status $(body)"
status=$(call POST "$base/admin/v1/orgs/$org/tokens" "$admin" '{}')
is_2xx "$status" || fail "POST /admin/v1/orgs/$org/tokens: $status $(body)"
token=$(field token)
[ -n "$token" ] || fail "no token in the answer: $(body)"

status=$(call POST "$base/imagemgmt/v1/images?action=copy-existing-image" "$token" \
  '{"streamName":"oci-smoke","osType":"WINDOWS","sourceStreamType":"AZURE_SIG","providerInstanceId":"pi-1","assetDetails":{"data":{"sourceImageVersionId":"g-1","isClientAccessLicenseApplicable":true,"multiSession":true}}}')
is_2xx "$status" || fail "POST /imagemgmt/v1/images (copy-existing-image): $status $(body)"
image=$(field id)
[ -n "$image" ] || fail "no image id in the answer: $(body)"
status=$(call GET "$base/imagemgmt/v1/images" "$token")
is_2xx "$status" || fail "GET /imagemgmt/v1/images: $status $(body)"
grep -q "\"$image\"" "$tmp/body" || fail "the image list lacks $image: $(body)"
status=$(call GET "$base/imagemgmt/v1/images" "")
[ "$status" = 401 ] || fail "GET /imagemgmt/v1/images without a token answered $status, not 401"
say "org, token, image $image created and listed"

# The cron trigger, from the pulled artifact: its tick count rises.
deadline=$((SECONDS + TICK_SECONDS))
while :; do
  status=$(call GET "$base/healthz" "$admin")
  ticks=$(field cron.lastTick.count)
  if is_2xx "$status" && [ -n "$ticks" ] && [ "$ticks" -gt "$ticks0" ]; then break; fi
  [ "$SECONDS" -lt "$deadline" ] || fail "/healthz cron.lastTick.count did not rise in ${TICK_SECONDS}s (was $ticks0, now ${ticks:-none}): $(body)"
  sleep 0.5
done
say "cron ticks: $ticks0 -> $ticks"

passed=1
# finish (the EXIT trap) stops everything, checks for strays and prints the verdict.
