// The inbox: pending drafts, oldest first, with how long each client has waited.
"use strict";

SL.views.drafts = {
  title: "Drafts",
  async render(root) {
    const page = await SL.api("GET", "/drafts");
    if (!page.drafts.length) {
      root.replaceChildren(SL.el("div", { class: "empty" },
        SL.el("p", { class: "big" }, "✨"),
        SL.el("p", {}, "Nothing waits for you."),
        SL.el("p", { class: "hint" }, "New drafts appear here and in the chat.")));
      return;
    }
    const count = page.drafts.length;
    root.replaceChildren(
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
  },
};
