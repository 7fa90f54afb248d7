// The charts of /stats, as PNG images the server draws; fetched with the initData header.
"use strict";

SL.views.stats = {
  title: "Charts",
  charts: [
    ["drafts", "Drafts per day"],
    ["response_time", "Response time"],
    ["citizens", "Outcomes per citizen"],
    ["cost", "Cost per day"],
    ["leads", "Lead funnel"],
  ],
  async render(root) {
    const urls = [];
    const days = SL.el("select", { id: "days", "aria-label": "Days" },
      [7, 30, 90].map((n) => SL.el("option", { value: String(n), selected: n === 30 }, n + " days")));
    const grid = SL.el("div", { class: "charts" });
    const load = async () => {
      urls.splice(0).forEach((url) => URL.revokeObjectURL(url));
      grid.replaceChildren();
      for (const [kind, label] of this.charts) {
        const figure = SL.el("figure", {}, SL.el("figcaption", {}, label));
        grid.append(figure);
        try {
          const blob = await SL.api("GET", "/chart/" + kind + ".png?days=" + days.value);
          const url = URL.createObjectURL(blob);
          urls.push(url);
          figure.append(SL.el("img", { src: url, alt: label }));
        } catch (error) {
          figure.append(SL.el("p", { class: "hint" },
            error.status === 404 ? "This chart is not available on this server yet." : error.message));
        }
      }
    };
    days.addEventListener("change", load);
    root.replaceChildren(SL.el("div", { class: "row" }, SL.el("span", { class: "hint" }, "Period"), days), grid);
    SL.cleanup = () => urls.forEach((url) => URL.revokeObjectURL(url));
    await load();
  },
};
