#!/usr/bin/env bash
# Fuzzes the imagemgmt REST door with schemathesis, driven by the app's own OpenAPI
# description, against a running app (e.g. `LISTEN=127.0.0.1:3999 ./dev up`, which
# prints the demo REST token):
#
#   tests/fuzz/run.sh http://127.0.0.1:3999 TOKEN
#
# Fails on any finding of the checks below: a 5xx; a status, content type, header or body
# the document does not describe; a request the document allows but the server refuses
# with a 400 (see schemathesis.toml and hooks.py); an ignored token; a resource missing
# after its create. Not run: `negative_data_rejection` (the server is deliberately more
# lenient than the document: unknown fields ignored, null as absent) and `use_after_free`
# (deletes are asynchronous, 202: the record stays readable, DELETING, until its
# operation ends).
# Bounded: MAX_EXAMPLES per operation (default 30) and MAX_TIME seconds for the whole run
# (default 120). The virtualenv lives in $VENV (default /tmp/catalog-fuzz-venv), outside
# the repository.
set -euo pipefail
cd "$(dirname "$0")"

base="${1:?usage: run.sh BASE_URL TOKEN}"
token="${2:?usage: run.sh BASE_URL TOKEN}"
venv="${VENV:-/tmp/catalog-fuzz-venv}"
checks="${CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,positive_data_acceptance,missing_required_header,ignored_auth,ensure_resource_availability}"

if [ ! -x "$venv/bin/schemathesis" ] || ! cmp -s requirements.txt "$venv/requirements.txt"; then
  echo "==> installing schemathesis into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r requirements.txt
  cp requirements.txt "$venv/requirements.txt"
fi

# The description is fetched with the token; requests go to its `servers` URL
# (/imagemgmt/v1) on the same host.
export SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout $(( ${MAX_TIME:-120} + 60 )) "$venv/bin/schemathesis" run \
  "$base/imagemgmt/v1/openapi.json" \
  --url "$base/imagemgmt/v1" \
  -H "Authorization: Bearer $token" \
  --checks "$checks" \
  --max-examples "${MAX_EXAMPLES:-30}" \
  --max-time "${MAX_TIME:-120}" \
  --seed "${SEED:-1}" \
  --request-timeout 10 \
  --workers 1 \
  --report junit --report-dir "${REPORT_DIR:-/tmp/catalog-fuzz-report}"
