#!/usr/bin/env bash
# Hand a client's Upwork reply to the running service, as Zapier does: it verifies the
# signature, then POSTs the body to $BACKEND_API_URL/webhook/upwork-response (which queues a
# Rafael session on the client's thread) and prints the service's answer.
#
#   WEBHOOK_BODY='{"client": "...", "message": "...", "job_title": "...", "job_link": "..."}'
#   PROVIDED_SIGNATURE=$(printf '%s' "$WEBHOOK_BODY" | scopelock sign)
#   WEBHOOK_SECRET=... BACKEND_API_URL=https://... scripts/trigger-rafael.sh
#
# Optional: WEBHOOK_TIMESTAMP (signature over "$WEBHOOK_TIMESTAMP.$WEBHOOK_BODY").
# Exit codes: 1 invalid signature, 2 a bad body or setting, 3 the service refused or is down.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/webhook-lib.sh"

verify_signature
CLIENT=$(body_field client)
MESSAGE=$(body_field message)
[ -n "$CLIENT" ] && [ -n "$MESSAGE" ] || fail "The body needs \"client\" and \"message\" strings"
hand_to_service /webhook/upwork-response
