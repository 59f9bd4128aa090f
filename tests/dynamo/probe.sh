#!/usr/bin/env bash
# Probes Spin's `aws_dynamo` key-value store call by call against moto's DynamoDB server
# (docs/runtime-facts.md R12). From the repository root:
#
#   tests/dynamo/probe.sh            # the HTTP probe cases, then the cron plugin's race
#   tests/dynamo/probe.sh http       # only the HTTP cases
#   tests/dynamo/probe.sh cron [S]   # only the cron plugin, for S seconds (default 30)
#   tests/dynamo/probe.sh creds      # credentials from the runtime config, not the env
#
# Needs python3 (the venv target/dynamo-venv is made from requirements.txt when missing),
# curl, and the real Spin in SPIN_BIN (a spin 4.x with trigger-cron). Builds the probe guests when
# their .wasm is missing. Everything it starts runs in its own process group and is
# stopped on exit; its files are under target/dynamo-probe.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
WORK=$ROOT/target/dynamo-probe
VENV=$ROOT/target/dynamo-venv
WASM=$ROOT/target/wasm32-wasip2/release
WHAT=${1:-all}
CRON_SECONDS=${2:-30}
mkdir -p "$WORK"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r tests/dynamo/requirements.txt
fi
if [ ! -f "$WASM/guest_probe.wasm" ] || [ ! -f "$WASM/guest_cron_probe.wasm" ]; then
  cargo build --target wasm32-wasip2 --release -p guest-probe -p guest-cron-probe
fi
SPIN_BIN=${SPIN_BIN:?set SPIN_BIN to a spin 4.x with the trigger-cron plugin}

PGIDS=()
cleanup() {
  for g in "${PGIDS[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
  sleep 1
  for g in "${PGIDS[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# moto, in its own process group; exports AWS_ENDPOINT_URL_DYNAMODB and the dummy env.
start_moto() {
  setsid "$VENV/bin/python" tests/dynamo/moto.py >"$WORK/moto.out" 2>"$WORK/moto.err" &
  PGIDS+=($!)
  for _ in $(seq 100); do
    grep -q '^AWS_ENDPOINT_URL_DYNAMODB=' "$WORK/moto.out" 2>/dev/null && break
    sleep 0.2
  done
  export "$(grep '^AWS_ENDPOINT_URL_DYNAMODB=' "$WORK/moto.out")"
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  echo "moto: $AWS_ENDPOINT_URL_DYNAMODB"
}

# spin up MANIFEST_DIR [LISTEN [RUNTIME_CONFIG]]: in its own process group.
start_spin() {
  local dir=$1 listen=${2:-} config=${3:-$ROOT/tests/dynamo/runtime-config.toml}
  local args=(up -f "$dir/spin.toml" --runtime-config-file "$config" --state-dir "$dir/state")
  [ -n "$listen" ] && args+=(--listen "$listen")
  rm -rf "$dir/state"
  setsid "$SPIN_BIN" "${args[@]}" >"$dir/spin.out" 2>&1 &
  PGIDS+=($!)
}

http_cases() {
  local dir=${1:-$WORK/http} config=${2:-} port
  mkdir -p "$dir"
  cat >"$dir/spin.toml" <<EOF
spin_manifest_version = 2
[application]
name = "dynamo-probe"
[[trigger.http]]
route = "/..."
component = "probe"
[component.probe]
source = "$WASM/guest_probe.wasm"
key_value_stores = ["default"]
EOF
  port=$(free_port)
  start_spin "$dir" "127.0.0.1:$port" "$config"
  local base="http://127.0.0.1:$port/"
  for _ in $(seq 150); do curl -s -o /dev/null "$base" && break; sleep 0.2; done

  # probe NAME QUERY: prints the case and the guest's results.
  probe() {
    printf '%s\n  ' "$1"
    curl -s --max-time 120 "$base?$2" | python3 -c \
      'import json,sys; r=json.load(sys.stdin)["results"]; print("\n  ".join(x if len(x)<2000 else x[:2000]+"…" for x in r))' \
      || echo "(no JSON answer)"
  }
  seq_keys() { local p=$1 n=$2 sep=${3:-;} i out=""; for i in $(seq 1 "$n"); do out+="$p$i$sep"; done; echo "${out%"$sep"}"; }

  if [ -n "$config" ]; then
    probe "with $(basename "$config"), no credentials in the env: set; get" \
      "op=w.set,default,cred,1&op=w.get,default,cred"
    return
  fi

  probe "get missing; set; get; delete missing; exists" \
    "op=w.get,default,missing&op=w.set,default,a,1&op=w.get,default,a&op=w.delete,default,nope&op=w.exists,default,a&op=w.exists,default,nope&op=w.delete,default,a&op=w.exists,default,a"
  probe "get-many with a missing key" "op=w.set,default,gm1,v1&op=w.getmany,default,gm1;gm-missing"
  probe "get-many with a duplicate key" "op=w.getmany,default,gm1;gm1"
  probe "get-many, no keys" "op=w.getmany,default,"
  probe "get-many with 100 keys (after setting them)" \
    "$(for i in $(seq 1 100); do printf 'op=w.set,default,k%s,v&' "$i"; done)op=w.getmany,default,$(seq_keys k 100)"
  probe "get-many with 101 keys" "op=w.getmany,default,$(seq_keys k 101)"
  probe "set-many and delete-many, no entries" "op=w.setmany,default,&op=w.delmany,default,"
  probe "set-many with a duplicate key" "op=w.setmany,default,d1=a;d1=b&op=w.get,default,d1"
  probe "set-many with 25 entries" "op=w.setmany,default,$(seq_keys s 25 '=x;')=x&op=w.getlen,default,s25"
  probe "set-many with 26 entries" "op=w.setmany,default,$(seq_keys t 26 '=x;')=x&op=w.get,default,t1"
  probe "delete-many with 25 keys" "op=w.delmany,default,$(seq_keys s 25)&op=w.get,default,s1"
  probe "delete-many with 26 keys (k1..k26 exist)" "op=w.delmany,default,$(seq_keys k 26)&op=w.get,default,k1"
  probe "delete-many with a duplicate key" "op=w.delmany,default,k30;k30&op=w.get,default,k30"
  probe "delete-many with a missing key" "op=w.delmany,default,k31;never&op=w.get,default,k31"
  probe "value of 400 000 bytes" "op=w.setn,default,big400,400000&op=w.getlen,default,big400"
  probe "value of 409 600 bytes" "op=w.setn,default,big400k,409600&op=w.getlen,default,big400k"
  probe "value of 512 000 bytes" "op=w.setn,default,big500,512000&op=w.getlen,default,big500"
  probe "increment on a new key; again; by 0; get" \
    "op=w.inc,default,c1,1&op=w.inc,default,c1,5&op=w.inc,default,c1,0&op=w.get,default,c1"
  probe "increment(key,0) on a missing key; exists; get" \
    "op=w.inc,default,c0,0&op=w.exists,default,c0&op=w.get,default,c0"
  probe "increment on a key holding text" "op=w.set,default,ct,hello&op=w.inc,default,ct,1&op=w.get,default,ct"
  probe "increment by a negative delta" \
    "op=w.inc,default,c1,-10&op=w.get,default,c1"
  probe "CAS on a new key (current none, swap)" "op=w.cas,default,x1,one&op=w.get,default,x1"
  probe "CAS on an existing key" "op=w.cas,default,x1,two&op=w.get,default,x1"
  probe "CAS, never read (casnew + swap) on an existing key" "op=w.casnew,default,x1&op=w.swap,three&op=w.get,default,x1"
  probe "CAS, never read, on a new key" "op=w.casnew,default,x2&op=w.swap,fresh&op=w.get,default,x2"
  probe "lost swap: casread, set, swap" \
    "op=w.casread,default,x1&op=w.set,default,x1,other&op=w.swap,mine&op=w.get,default,x1"
  probe "lost swap on a new key: casread (none), set, swap" \
    "op=w.casread,default,x3&op=w.set,default,x3,other&op=w.swap,mine&op=w.get,default,x3"
  probe "stale swap: casread, cas (another swap), swap" \
    "op=w.casread,default,x1&op=w.cas,default,x1,winner&op=w.swap,loser&op=w.get,default,x1"
  probe "swap of a versioned key after an increment of it: cas, casread, inc, swap" \
    "op=w.cas,default,xv,5&op=w.casread,default,xv&op=w.inc,default,xv,1&op=w.swap,9&op=w.get,default,xv"
  probe "swap after an increment of the same key: casread, inc, swap" \
    "op=w.inc,default,xc,1&op=w.casread,default,xc&op=w.inc,default,xc,1&op=w.swap,9&op=w.get,default,xc"

  echo "increment storm: 10 parallel requests x 20 increments of one key"
  local q="" i
  for i in $(seq 20); do q+="op=w.inc,default,storm,1&"; done
  local pids=()
  rm -f "$dir"/storm.*.json
  for i in $(seq 10); do
    curl -s --max-time 120 "$base?${q%&}" >"$dir/storm.$i.json" &
    pids+=($!)
  done
  wait "${pids[@]}"
  python3 - "$dir" <<'EOF'
import collections, glob, json, re, sys
ok = 0; errs = collections.Counter(); sample = {}
for f in glob.glob(sys.argv[1] + "/storm.*.json"):
    for r in json.load(open(f))["results"]:
        if r.startswith("ok:"):
            ok += 1
        else:
            # the same error but for its request id
            kind = re.sub(r'"aws_request_id": "[^"]*"|"x-amzn-requestid": HeaderValue \{[^}]*\}|"date": HeaderValue \{[^}]*\}', "", r)
            errs[kind] += 1
            sample.setdefault(kind, r)
print(f"  successes {ok}, errors {sum(errs.values())}")
for e, n in errs.most_common():
    print(f"  {n} x {sample[e][:600]}…")
EOF
  probe "  final value" "op=w.get,default,storm&op=w.inc,default,storm,0"
}

cron_cases() {
  local dir=$WORK/cron
  mkdir -p "$dir"
  cat >"$dir/spin.toml" <<EOF
spin_manifest_version = 2
[application]
name = "dynamo-cron-probe"
[[trigger.cron]]
component = "ticker"
cron_expression = "*/1 * * * * *"
[[trigger.cron]]
component = "ticker"
cron_expression = "*/1 * * * * *"
[component.ticker]
source = "$WASM/guest_cron_probe.wasm"
key_value_stores = ["default"]
EOF
  start_spin "$dir"
  echo "cron: two triggers every second for $CRON_SECONDS s"
  sleep "$CRON_SECONDS"
  kill -TERM -- "-${PGIDS[-1]}" 2>/dev/null || true
  sleep 1
  kill -KILL -- "-${PGIDS[-1]}" 2>/dev/null || true
  local ticks
  ticks=$("$VENV/bin/python" - <<'EOF'
import os, boto3
c = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
item = c.get_item(TableName="image-catalog", Key={"PK": {"S": "cron.ticks"}}, ConsistentRead=True).get("Item", {})
print(item.get("VAL", {}).get("B", b"").decode() or "none", repr(item))
EOF
)
  echo "  cron.ticks in the table: $ticks"
  echo "  ticks logged: $(cat "$dir"/state/logs/*stdout* 2>/dev/null | grep -c '^tick at' || true)"
  echo "  failed ticks: $(grep -c 'Component ticker failed' "$dir/spin.out" || true)," \
    "of them ConditionalCheckFailed: $(grep 'Component ticker failed' "$dir/spin.out" | grep -c 'ConditionalCheckFailed' || true)"
  echo "  the first failure (600 characters):"
  grep -m1 'Component ticker failed' "$dir/spin.out" | cut -c1-600 | sed 's/^/    /' || true
}

creds_cases() {
  local dir=$WORK/creds
  mkdir -p "$dir"
  sed 's/^consistent_read = true$/consistent_read = true\naccess_key = "test"\nsecret_key = "test"/' \
    tests/dynamo/runtime-config.toml >"$dir/with-keys.toml"
  local key=$AWS_ACCESS_KEY_ID secret=$AWS_SECRET_ACCESS_KEY
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  http_cases "$dir/keys" "$dir/with-keys.toml"
  http_cases "$dir/none" "$ROOT/tests/dynamo/runtime-config.toml"
  export AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret
}

start_moto
case $WHAT in
  http) http_cases ;;
  cron) cron_cases ;;
  creds) creds_cases ;;
  *) http_cases; cron_cases ;;
esac
