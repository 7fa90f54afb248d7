#!/usr/bin/env bash
# Run Emma on a manual or scheduled task, by hand, as POST /webhook/trigger/emma does.
#
#   WEBHOOK_BODY='{"message": "Evaluate the new Upwork posts about AI chatbots"}'
#   PROVIDED_SIGNATURE=$(printf '%s' "$WEBHOOK_BODY" | scopelock sign)
#   WEBHOOK_SECRET=... scripts/trigger-emma.sh
#
# Optional: WEBHOOK_TIMESTAMP (signature over "$WEBHOOK_TIMESTAMP.$WEBHOOK_BODY"), CLAUDE_BIN,
# CITIZENS_DIR, BACKEND_API_URL, API_TOKEN.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/webhook-lib.sh"

verify_signature
MESSAGE=$(body_field message)
[ -n "$MESSAGE" ] || fail "The body needs a \"message\" string"

run_citizen emma "Task from the ScopeLock operator (via a signed script); follow your CLAUDE.md.

$MESSAGE"
