// The draft editor: the whole text in a text area; Save, Save and approve (Telegram's main
// button), Reject with a reason, Redraft with an instruction. Every action sends the
// `updated_at` it loaded: if the draft changed meanwhile the server answers 409 and the page
// says so, keeping what was typed.
"use strict";

SL.views.editor = {
  title: "Draft",
  async render(root, params) {
    const draft = await SL.api("GET", "/draft/" + encodeURIComponent(params.id));
    const state = { draft, busy: false };
    const pending = draft.status === "pending";

    const text = SL.el("textarea", {
      id: "draft-text", spellcheck: "true", disabled: !pending, "aria-label": "Draft text",
    });
    text.value = draft.draft_text;
    const counter = SL.el("span", { class: "hint counter" });
    const banner = SL.el("div", { class: "banner", id: "banner", hidden: true });
    const panel = SL.el("div", { class: "panel", hidden: true });
    const count = () => (counter.textContent = text.value.length.toLocaleString() + " characters");
    text.addEventListener("input", () => {
      count();
      if (SL.tg) SL.tg.enableClosingConfirmation();
    });
    count();

    const warn = (message, reload) => {
      banner.replaceChildren(SL.el("span", {}, message),
        reload ? SL.el("button", { type: "button", class: "link", onclick: () => SL.show("editor", params, true) }, "Reload") : null);
      banner.hidden = false;
    };

    const send = async (body, done) => {
      if (state.busy) return;
      state.busy = true;
      SL.mainBusy(true);
      try {
        state.draft = await SL.api("POST", "/draft/" + encodeURIComponent(draft.id),
          Object.assign({ updated_at: state.draft.updated_at }, body));
        if (SL.tg) SL.tg.disableClosingConfirmation();
        SL.haptic("success");
        SL.toast(done);
        if (state.draft.status === "pending") {
          text.value = state.draft.draft_text;
          count();
        } else {
          await SL.back();
          if (SL.stack.length === 1 && SL.stack[0].name !== "drafts") SL.show("drafts", {}, true);
        }
      } catch (error) {
        SL.haptic("error");
        if (error.code === "draft_changed") {
          warn("⚠️ This draft changed since you opened it (someone edited it in the chat?). " +
            "Your text is still here; reload to see the new version.", true);
        } else if (error.code === "draft_not_pending") {
          warn("This draft was already decided: " + error.message, true);
        } else {
          warn(error.message, false);
        }
      } finally {
        state.busy = false;
        SL.mainBusy(false);
      }
    };

    const ask = (label, presets, placeholder, field, action, done) => {
      const input = SL.el("input", { type: "text", placeholder, maxlength: "1000", id: field });
      panel.replaceChildren(
        SL.el("p", { class: "panel-title" }, label),
        SL.el("div", { class: "chips" }, presets.map((preset) =>
          SL.el("button", { type: "button", class: "chip", onclick: () => (input.value = preset) }, preset))),
        input,
        SL.el("div", { class: "actions" },
          SL.el("button", { type: "button", class: "secondary", onclick: () => (panel.hidden = true) }, "Cancel"),
          SL.el("button", {
            type: "button",
            class: action === "reject" ? "danger" : "primary",
            id: "confirm-" + action,
            onclick: () => {
              const value = input.value.trim();
              if (!value && field === "instruction") return input.focus();
              send(Object.assign({ action }, value ? { [field]: value } : {}), done);
            },
          }, action === "reject" ? "Reject" : "Redraft")));
      panel.hidden = false;
      input.focus();
    };

    const facts = SL.el("div", { class: "facts" },
      SL.el("div", { class: "row" },
        SL.el("strong", { class: "client" }, draft.client),
        SL.el("span", { class: "wait" }, "⏱ " + SL.waited(draft.waiting_since, new Date().toISOString()))),
      SL.el("div", { class: "job" }, draft.job_title),
      SL.el("div", { class: "row meta" },
        SL.el("span", {}, draft.citizen + " · " + draft.status),
        SL.el("span", { class: draft.low_confidence ? "badge low" : "badge" },
          (draft.low_confidence ? "⚠️ low confidence " : "confidence ") + draft.confidence + "%")),
      draft.note ? SL.el("p", { class: "note" }, "💬 " + draft.note) : null);

    const message = SL.el("details", { class: "message" },
      SL.el("summary", {}, "Client's message"),
      SL.el("p", {}, draft.message));

    const buttons = SL.el("div", { class: "actions" },
      SL.el("button", { type: "button", class: "secondary", id: "save", disabled: !pending,
        onclick: () => send({ action: "edit", text: text.value }, "Saved") }, "Save"),
      SL.el("button", { type: "button", class: "secondary danger-text", id: "reject", disabled: !pending,
        onclick: () => ask("Why reject it?", ["Wrong tone", "Not a fit", "Too generic", "Missing facts"],
          "A reason (optional)", "reason", "reject", "Rejected") }, "Reject…"),
      SL.el("button", { type: "button", class: "secondary", id: "redraft", disabled: !pending,
        onclick: () => ask("What should the next draft do?", ["Shorter", "Ask for the budget first", "More formal"],
          "An instruction", "instruction", "redraft", "Redraft requested") }, "Redraft…"));

    const thread = draft.thread_id
      ? SL.el("button", { type: "button", class: "link", id: "open-thread",
        onclick: () => SL.show("thread", { id: draft.thread_id }) }, "Conversation history ›")
      : null;

    root.replaceChildren(facts, message, banner,
      SL.el("label", { class: "hint", for: "draft-text" }, "Reply"), text, counter,
      buttons, panel, thread);

    if (pending) {
      SL.mainButton("Save and approve", () =>
        send({ action: "approve", text: text.value }, "Approved ✓"));
    } else {
      warn("This draft is " + draft.status + "; it can no longer be changed.", false);
    }

    // Warn as soon as the draft moves on elsewhere (a tap in the chat), not only on save.
    const timer = setInterval(async () => {
      try {
        const now = await SL.api("GET", "/draft/" + encodeURIComponent(draft.id));
        if (now.updated_at !== state.draft.updated_at && !state.busy) {
          warn("⚠️ This draft changed meanwhile (now " + now.status + "). " +
            "Your text is still here; reload to see the new version.", true);
        }
      } catch (error) {
        /* a failed check says nothing about the draft */
      }
    }, 20000);
    SL.cleanup = () => {
      clearInterval(timer);
      if (SL.tg) SL.tg.disableClosingConfirmation();
    };
  },
};
