// A thread's history: the client's messages and our replies, with every draft and feedback.
"use strict";

SL.views.thread = {
  title: "Conversation",
  async render(root, params) {
    const thread = await SL.api("GET", "/thread/" + encodeURIComponent(params.id));
    const link = thread.job_link
      ? SL.el("button", { type: "button", class: "link", onclick: () =>
        (SL.tg ? SL.tg.openLink(thread.job_link) : window.open(thread.job_link, "_blank", "noopener")) },
      "Open the job ↗")
      : null;
    const messages = thread.messages.map((message) =>
      SL.el("div", { class: "bubble " + message.direction },
        SL.el("p", {}, message.text),
        SL.el("span", { class: "hint small" }, SL.when(message.at))));
    const drafts = thread.drafts.map((draft) =>
      SL.el("li", { class: "draft-entry" },
        SL.el("div", { class: "row" },
          SL.el("span", { class: "badge status-" + draft.status }, draft.status),
          SL.el("span", { class: "hint small" }, draft.citizen + " · " + SL.when(draft.created_at))),
        SL.el("p", { class: "excerpt" }, draft.draft_text),
        draft.feedback.map((item) =>
          SL.el("p", { class: "feedback" }, {
            edit: "✏️ edited",
            reject_reason: "❌ " + item.text,
            redraft: "🔁 " + item.text,
          }[item.kind] || item.text)),
        draft.status === "pending"
          ? SL.el("button", { type: "button", class: "link", onclick: () => SL.show("editor", { id: draft.id }) }, "Open in the editor ›")
          : null));
    root.replaceChildren(
      SL.el("div", { class: "facts" },
        SL.el("strong", { class: "client" }, thread.client),
        SL.el("div", { class: "job" }, thread.job_title || ""),
        SL.el("div", { class: "hint small" }, thread.platform +
          (thread.waiting_since ? " · waiting since " + SL.when(thread.waiting_since) : "")),
        link),
      SL.el("h2", { class: "section-title" }, "Messages"),
      messages.length ? SL.el("div", { class: "chat" }, messages) : SL.el("p", { class: "hint" }, "No messages yet."),
      SL.el("h2", { class: "section-title" }, "Drafts"),
      drafts.length ? SL.el("ul", { class: "list" }, drafts) : SL.el("p", { class: "hint" }, "No drafts yet."));
  },
};
