// The inbox: pending drafts, oldest first, with how long each client has waited; then the
// clients who wait with no draft at all (a failed session, a rejected draft), the longest first.
"use strict";

SL.views.drafts = {
  title: "Drafts",
  async render(root) {
    const page = await SL.api("GET", "/drafts");
    const waiting = page.waiting || [];
    if (!page.drafts.length && !waiting.length) {
      root.replaceChildren(SL.el("div", { class: "empty" },
        SL.el("p", { class: "big" }, "✨"),
        SL.el("p", {}, "Nothing waits for you."),
        SL.el("p", { class: "hint" }, "New drafts appear here and in the chat.")));
      return;
    }
    const count = page.drafts.length;
    const parts = [];
    if (count) {
      parts.push(
        SL.el("p", { class: "hint section-title" },
          count + (count === 1 ? " draft waits" : " drafts wait") + " · oldest first"),
        SL.el("ul", { class: "list", id: "drafts" },
          page.drafts.map((draft) => SL.el("li", {},
            SL.el("button", {
              type: "button",
              class: "item",
              "data-draft": draft.id,
              onclick: () => SL.show("editor", { id: draft.id }),
            },
            SL.el("span", { class: "row" },
              SL.el("strong", { class: "client" }, draft.client),
              SL.el("span", { class: "wait" }, "⏱ " + SL.waited(draft.waiting_since, page.now))),
            SL.el("span", { class: "job" }, draft.job_title),
            SL.el("span", { class: "excerpt" }, draft.excerpt),
            SL.el("span", { class: "row meta" },
              SL.el("span", {}, draft.citizen),
              SL.el("span", { class: draft.low_confidence ? "badge low" : "badge" },
                (draft.low_confidence ? "⚠️ " : "") + draft.confidence + "%")))))));
    }
    if (waiting.length) {
      parts.push(
        SL.el("p", { class: "hint section-title" },
          waiting.length + " waiting, no draft · longest first"),
        SL.el("ul", { class: "list", id: "waiting" },
          waiting.map((item) => SL.el("li", {},
            SL.el("button", {
              type: "button",
              class: "item",
              "data-thread": item.thread_id,
              onclick: () => SL.show("thread", { id: item.thread_id }),
            },
            SL.el("span", { class: "row" },
              SL.el("strong", { class: "client" }, item.client),
              SL.el("span", { class: "wait" }, "⏱ " + SL.waited(item.waiting_since, page.now))),
            SL.el("span", { class: "job" }, item.job_title || ""),
            SL.el("span", { class: "excerpt" }, item.state))))));
    }
    root.replaceChildren(...parts);
  },
};
