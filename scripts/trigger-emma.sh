#!/usr/bin/env bash
# Hand a task for Emma to the running service: it verifies the signature, then POSTs the body
# to $BACKEND_API_URL/webhook/trigger/emma (which queues an Emma session) and prints the
# service's answer.
#
#   WEBHOOK_BODY='{"message": "Evaluate the new Upwork posts about AI chatbots"}'
#   PROVIDED_SIGNATURE=$(printf '%s' "$WEBHOOK_BODY" | scopelock sign)
#   WEBHOOK_SECRET=... BACKEND_API_URL=https://... scripts/trigger-emma.sh
#
# Optional: WEBHOOK_TIMESTAMP (signature over "$WEBHOOK_TIMESTAMP.$WEBHOOK_BODY").
# Exit codes: 1 invalid signature, 2 a bad body or setting, 3 the service refused or is down.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/webhook-lib.sh"

verify_signature
MESSAGE=$(body_field message)
[ -n "$MESSAGE" ] || fail "The body needs a \"message\" string"
hand_to_service /webhook/trigger/emma
