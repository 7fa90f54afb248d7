// ScopeLock: the "Code by Zapier" (Run JavaScript) step that hands an Upwork notification email
// to the service. Paste this file as is; it replaces "Webhooks by Zapier", which cannot sign.
//
// Input Data (the step's fields; README, "Connect Zapier"):
//   url         https://<your service>/webhook/upwork-response
//   secret      the service's WEBHOOK_SECRET
//   from_name, from_email, subject, body_plain, thread_id, message_id   from the Gmail trigger
//
// It builds {client, message, job_title, job_link?, thread, platform}, signs it with the
// Standard Webhooks headers (webhook-id = the Gmail message id, so replaying a Zap run is a
// duplicate), POSTs it, and returns the service's JSON answer; a non-2xx answer throws, so
// Zapier shows the error. Node 18, nothing beyond Node's own modules.

const nodeCrypto = require("crypto");

const LIMITS = { client: 200, job_title: 500, message: 30000, job_link: 2000, thread: 255 };
const JOB_LINK = /https:\/\/(?:www\.)?upwork\.com\/(?:jobs|ab\/jobs|freelance-jobs)\/[^\s<>"')\]]+/i;

// Whole characters (not UTF-16 halves), as the service counts them.
const clip = (text, limit) => Array.from(String(text || "").trim()).slice(0, limit).join("").trim();
const field = (name) => String(inputData[name] || "").trim();

function clientName(fromName, subject, fromEmail) {
  const via = fromName.match(/^(.+?)\s+via\s+Upwork$/i);
  if (via) return via[1];
  const inSubject = subject.match(/\bfrom\s+(.+?)(?:\s+(?:on|about|regarding)\s+["“'‘]|\s+[-–—|:]\s|$)/i);
  if (inSubject) return inSubject[1];
  return fromName && !/^upwork$/i.test(fromName) ? fromName : fromEmail;
}

function jobTitle(subject) {
  const quoted = subject.match(/["“‘']([^"”’']{3,})["”’']/);
  return quoted ? quoted[1] : subject.replace(/^(?:(?:re|fwd?):\s*)+/i, "");
}

const url = field("url");
const secret = field("secret");
if (!url || !secret) {
  throw new Error("Set the step's input fields `url` (…/webhook/upwork-response) and `secret`.");
}
const subject = field("subject");
const text = field("body_plain");
const link = text.match(JOB_LINK);
const payload = {
  client: clip(clientName(field("from_name"), subject, field("from_email")), LIMITS.client),
  message: clip(text || subject, LIMITS.message),
  job_title: clip(jobTitle(subject), LIMITS.job_title),
  thread: clip(field("thread_id"), LIMITS.thread),
  platform: "upwork",
};
if (link) payload.job_link = clip(link[0], LIMITS.job_link);
if (!payload.client || !payload.message) {
  throw new Error("The email has no sender name or text to pass on: check the input fields.");
}

const body = JSON.stringify(payload);
const id = field("message_id") || nodeCrypto.randomUUID();
const timestamp = Math.floor(Date.now() / 1000).toString();
const signature = nodeCrypto
  .createHmac("sha256", Buffer.from(secret, "utf8"))
  .update(`${id}.${timestamp}.${body}`)
  .digest("base64");

const response = await fetch(url, {
  method: "POST",
  headers: {
    "Content-Type": "application/json",
    "webhook-id": id,
    "webhook-timestamp": timestamp,
    "webhook-signature": `v1,${signature}`,
  },
  body,
});
const answer = await response.text();
if (!response.ok) {
  throw new Error(`ScopeLock answered ${response.status}: ${answer.slice(0, 500)}`);
}
return JSON.parse(answer);
