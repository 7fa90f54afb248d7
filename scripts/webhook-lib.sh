# Shared by the trigger scripts (source it; do not run it). Verifies the HMAC of $WEBHOOK_BODY
# by hand, then hands the body to the running service's signed webhook, so a session started
# here is the same as any other. Nothing from the body is ever evaluated: it only travels in
# quoted variables and on stdin. The secret never appears on a command line (where `ps` would
# show it): Python reads it from the environment.

TOLERANCE_S=300

fail() {
  echo "$1" >&2
  exit "${2:-2}"
}

require_env() {
  local name
  for name in "$@"; do
    [ -n "${!name:-}" ] || fail "$name is not set"
  done
}

# Exit 1 with "Invalid signature" unless $PROVIDED_SIGNATURE is the HMAC-SHA256 of the body
# (of "$WEBHOOK_TIMESTAMP.$WEBHOOK_BODY" when WEBHOOK_TIMESTAMP is set) under $WEBHOOK_SECRET.
# On success, SIGNATURE holds it normalized (lowercase hex, no `sha256=`).
verify_signature() {
  require_env WEBHOOK_BODY WEBHOOK_SECRET
  local provided now skew
  provided=$(printf '%s' "${PROVIDED_SIGNATURE:-}" | tr -d '[:space:]' | tr 'A-F' 'a-f')
  provided=${provided#sha256=}
  if [ -n "${WEBHOOK_TIMESTAMP:-}" ]; then
    [[ $WEBHOOK_TIMESTAMP =~ ^[0-9]{1,12}$ ]] || fail "Invalid signature" 1
    now=$(date +%s)
    skew=$((now - 10#$WEBHOOK_TIMESTAMP))
    [ "${skew#-}" -le "$TOLERANCE_S" ] || fail "Invalid signature" 1
  fi
  # Everything but the code travels in the environment: the secret, the body, the signature.
  SIGNATURE=$provided "${PYTHON:-python3}" -c '
import hashlib, hmac, os, sys
body = os.environb[b"WEBHOOK_BODY"]
stamp = os.environb.get(b"WEBHOOK_TIMESTAMP", b"")
signed = stamp + b"." + body if stamp else body
expected = hmac.new(os.environb[b"WEBHOOK_SECRET"], signed, hashlib.sha256).hexdigest()
sys.exit(0 if hmac.compare_digest(expected, os.environ["SIGNATURE"]) else 1)
' || fail "Invalid signature" 1
  SIGNATURE=$provided
}

# The string field $1 of the body; empty when absent, null or not a string.
body_field() {
  printf '%s' "$WEBHOOK_BODY" | jq -r --arg name "$1" '.[$name] | strings' \
    || fail "The body is not valid JSON"
}

# POST the verified body to the service's signed webhook at path $1; print its answer.
hand_to_service() {
  local path=$1 url headers=()
  url="${BACKEND_API_URL:-http://127.0.0.1:8000}$path"
  headers=(-H "Content-Type: application/json" -H "X-Webhook-Signature: $SIGNATURE")
  if [ -n "${WEBHOOK_TIMESTAMP:-}" ]; then
    headers+=(-H "X-Webhook-Timestamp: $WEBHOOK_TIMESTAMP")
  fi
  printf '%s' "$WEBHOOK_BODY" \
    | curl -sS --fail-with-body -X POST "${headers[@]}" --data-binary @- "$url" \
    || fail "The service at $url refused the delivery or did not answer (BACKEND_API_URL)" 3
  echo
}
