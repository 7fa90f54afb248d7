#!/usr/bin/env bash
# Run Rafael on a client's Upwork reply, by hand, as POST /webhook/upwork-response does.
#
#   WEBHOOK_BODY='{"client": "...", "message": "...", "job_title": "...", "job_link": "..."}'
#   PROVIDED_SIGNATURE=$(printf '%s' "$WEBHOOK_BODY" | scopelock sign)
#   WEBHOOK_SECRET=... scripts/trigger-rafael.sh
#
# Optional: WEBHOOK_TIMESTAMP (signature over "$WEBHOOK_TIMESTAMP.$WEBHOOK_BODY"), CLAUDE_BIN,
# CITIZENS_DIR, BACKEND_API_URL, API_TOKEN.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/webhook-lib.sh"

verify_signature
CLIENT=$(body_field client)
MESSAGE=$(body_field message)
JOB_TITLE=$(body_field job_title)
JOB_LINK=$(body_field job_link)
[ -n "$CLIENT" ] && [ -n "$MESSAGE" ] || fail "The body needs \"client\" and \"message\" strings"

PROMPT="A client replied on Upwork. Draft ScopeLock's answer following your CLAUDE.md.

$UNTRUSTED_NOTE

$(fence "CLIENT NAME" "$CLIENT")

$(fence "JOB TITLE" "${JOB_TITLE:-(unknown: find it in your notes or the proposal if you can)}")"
if [ -n "$JOB_LINK" ]; then
  PROMPT="$PROMPT

$(fence "JOB LINK" "$JOB_LINK")"
fi
PROMPT="$PROMPT

$(fence "CLIENT MESSAGE" "$MESSAGE")

What to do: write the reply (plain text, scope locked, at most one question), then post it as \
a draft with POST \$BACKEND_API_URL/api/draft/create exactly as your CLAUDE.md shows: client \
and job_title as above, message the client's message verbatim, your reply as draft_text, an \
honest confidence${JOB_LINK:+, and the job link as context.job_link}. Send nothing to the \
client yourself: the operator approves drafts in Telegram."

run_citizen rafael "$PROMPT"
