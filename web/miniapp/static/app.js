// The shell every view shares: Telegram's WebApp object, theme, API calls, navigation.
"use strict";

const SL = (window.SL = {
  tg: (window.Telegram && window.Telegram.WebApp) || null,
  views: {},
  stack: [],
  mainHandler: null,
  cleanup: null,
});

// --- theme: Telegram's themeParams become CSS variables (light and dark) ---
const THEME_VARS = {
  bg_color: "--bg",
  secondary_bg_color: "--bg2",
  section_bg_color: "--section",
  text_color: "--text",
  hint_color: "--hint",
  link_color: "--link",
  button_color: "--button",
  button_text_color: "--button-text",
  destructive_text_color: "--danger",
  accent_text_color: "--accent",
};

SL.applyTheme = function () {
  const root = document.documentElement;
  const tg = SL.tg;
  root.dataset.scheme = (tg && tg.colorScheme) || "light";
  const params = (tg && tg.themeParams) || {};
  for (const [key, name] of Object.entries(THEME_VARS)) {
    if (params[key]) root.style.setProperty(name, params[key]);
    else root.style.removeProperty(name);
  }
};

// --- small DOM helper: text always goes in as text, never as HTML ---
SL.el = function (tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};

// --- the API: every call carries the raw initData; the server checks it ---
SL.ApiError = class extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
};

SL.api = async function (method, path, body) {
  const headers = { "X-Telegram-Init-Data": (SL.tg && SL.tg.initData) || "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch("/app/api" + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new SL.ApiError(0, "network", "Cannot reach ScopeLock; check the connection.");
  }
  // An image (a chart) comes back as a Blob, whatever query the path carries.
  const type = response.headers.get("Content-Type") || "";
  if (response.ok && type.startsWith("image/")) return response.blob();
  let document = null;
  try {
    document = await response.json();
  } catch (error) {
    document = null;
  }
  if (!response.ok) {
    const error = (document && document.error) || {};
    throw new SL.ApiError(response.status, error.code || "http_error",
      error.message || "ScopeLock answered " + response.status + ".");
  }
  return document;
};

// --- formatting ---
SL.waited = function (since, now) {
  const minutes = Math.max(0, Math.floor((Date.parse(now) - Date.parse(since)) / 60000));
  if (minutes < 1) return "just now";
  if (minutes < 60) return minutes + " min";
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return hours + " h " + String(minutes % 60).padStart(2, "0") + " min";
  return Math.floor(hours / 24) + " d " + (hours % 24) + " h";
};

SL.when = function (iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString([], {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
};

SL.toast = function (text) {
  const toast = document.getElementById("toast");
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(SL.toastTimer);
  SL.toastTimer = setTimeout(() => (toast.hidden = true), 2500);
};

SL.haptic = function (kind) {
  const feedback = SL.tg && SL.tg.HapticFeedback;
  if (feedback) feedback.notificationOccurred(kind);
};

// --- Telegram's MainButton: one handler at a time, owned by the current view ---
SL.mainButton = function (text, handler) {
  const button = SL.tg && SL.tg.MainButton;
  if (!button) return;
  if (SL.mainHandler) button.offClick(SL.mainHandler);
  SL.mainHandler = null;
  if (!text) {
    button.hide();
    return;
  }
  SL.mainHandler = handler;
  button.setText(text);
  button.onClick(handler);
  button.enable();
  button.show();
};

SL.mainBusy = function (busy) {
  const button = SL.tg && SL.tg.MainButton;
  if (!button) return;
  if (busy) {
    button.showProgress(false);
    button.disable();
  } else {
    button.hideProgress();
    button.enable();
  }
};

// --- navigation: a stack of views; Telegram's BackButton pops it ---
SL.show = async function (name, params, replace) {
  if (SL.cleanup) SL.cleanup();
  SL.cleanup = null;
  if (replace) SL.stack.pop();
  SL.stack.push({ name, params: params || {} });
  await SL.render();
};

SL.back = async function () {
  if (SL.stack.length < 2) return;
  if (SL.cleanup) SL.cleanup();
  SL.cleanup = null;
  SL.stack.pop();
  await SL.render();
};

SL.render = async function () {
  const { name, params } = SL.stack[SL.stack.length - 1];
  const view = SL.views[name];
  const root = document.getElementById("view");
  document.getElementById("title").textContent = view.title;
  for (const tab of document.querySelectorAll("#tabs button")) {
    tab.classList.toggle("active", tab.dataset.view === name);
  }
  document.body.dataset.view = name;
  const back = SL.tg && SL.tg.BackButton;
  if (back) (SL.stack.length > 1 ? back.show() : back.hide());
  SL.mainButton(null);
  root.replaceChildren(SL.el("p", { class: "hint center" }, "Loading…"));
  try {
    await view.render(root, params);
  } catch (error) {
    root.replaceChildren(SL.problem(error));
  }
  window.scrollTo(0, 0);
};

SL.problem = function (error) {
  const status = error instanceof SL.ApiError ? error.status : 0;
  const heading = {
    401: "Open ScopeLock from Telegram",
    403: "Not allowed",
    404: "Not found",
    503: "Unavailable",
  }[status] || "Something went wrong";
  return SL.el("div", { class: "problem" },
    SL.el("h2", {}, heading),
    SL.el("p", { class: "hint" }, error.message || String(error)));
};
