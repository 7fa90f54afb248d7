// Start-up: theme, buttons, and the first view (the URL may name a draft or a thread).
"use strict";

(function () {
  const tg = SL.tg;
  SL.applyTheme();
  if (tg) {
    tg.onEvent("themeChanged", SL.applyTheme);
    tg.BackButton.onClick(SL.back);
    tg.ready();
    tg.expand();
  }
  for (const tab of document.querySelectorAll("#tabs button")) {
    tab.addEventListener("click", () => {
      SL.stack = [];
      SL.show(tab.dataset.view);
    });
  }
  const query = new URLSearchParams(window.location.search);
  SL.stack = [{ name: "drafts", params: {} }];
  if (query.get("draft")) SL.show("editor", { id: query.get("draft") });
  else if (query.get("thread")) SL.show("thread", { id: query.get("thread") });
  else if (query.get("view") === "stats") SL.show("stats", {}, true);
  else SL.render();
})();
