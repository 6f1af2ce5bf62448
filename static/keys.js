// Newsreader keys, for the page they are pressed on: on a thread, j/k move
// between articles, n to the next new one, r replies, c marks the thread read,
// u marks unread from the current article;
// on the home and group pages, j/k move between the listed groups or threads,
// Enter opens one, n goes to the next with unread articles, c catches up.
// Everywhere: g then h (home) or i (inbox), / search, ? these keys. The keys
// can be turned off in their help (WCAG 2.1 SC 2.1.4), kept in localStorage.
import { element } from "./dom.js";

const OFF = "moot:keys-off";

function typing(target) {
  return target instanceof HTMLElement &&
    (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

function keysOn() {
  try {
    return localStorage.getItem(OFF) !== "1";
  } catch {
    return true;  // storage refused: the keys stay on, as the page says
  }
}

function setKeysOn(on) {
  try {
    if (on) localStorage.removeItem(OFF); else localStorage.setItem(OFF, "1");
  } catch { /* kept for this page only */ }
}

export function articles() {
  return Array.from(document.querySelectorAll("#tree .art"))
    .filter((el) => el.offsetParent !== null);  // skip collapsed sub-trees
}

export function current() {
  return document.querySelector("#tree .art.current");
}

export function select(article) {
  if (!article) return;
  const previous = current();
  if (previous) previous.classList.remove("current");
  article.classList.add("current");
  article.focus({ preventScroll: true });
  article.scrollIntoView({ block: "nearest", behavior: "auto" });
  const node = article.closest(".node");
  if (node) node.dispatchEvent(new CustomEvent("moot:seen", { bubbles: true }));
}

/** Move `delta` along `list` from `now` (from the first item on screen when none is current). */
function step(list, now, delta, choose) {
  if (!list.length) return;
  const at = list.indexOf(now);
  if (at === -1) {
    choose(delta > 0 ? list.find((el) => el.getBoundingClientRect().top >= 0) || list[0] : list[0]);
  } else {
    choose(list[Math.min(list.length - 1, Math.max(0, at + delta))]);
  }
}

/** Follow the page's "Next unread" link; false when it has none. */
function onward() {
  const link = document.querySelector('[data-action="next-unread"]');
  if (link) location.href = link.href;
  return Boolean(link);
}

/** The next article marked new after the current one (the first not yet seen when none follows). */
export function nextNew() {
  const list = articles();
  const at = list.indexOf(current());
  const isNew = (el) => el.parentElement.classList.contains("new");
  const after = list.slice(at + 1).find(isNew);
  const unseen = list.find((el) => el.parentElement.classList.contains("unseen"));
  if (after || unseen) select(after || unseen);
  else onward();  // nothing new here: on to the next unread article elsewhere, as a newsreader's `n`
}

// The rows of a list page: the threads of a group, the groups on the home page.
function rows() {
  return Array.from(document.querySelectorAll("#group .thread-row, #home .group-row"))
    .filter((el) => el.offsetParent !== null);  // skip what a killfile's box keeps closed
}

const currentRow = () => document.querySelector(".thread-row.current, .group-row.current");
const rowLink = (row) => row && row.querySelector("a.tsubj, .gname > a");

function selectRow(row) {
  const previous = currentRow();
  if (previous) previous.classList.remove("current");
  row.classList.add("current");
  const link = rowLink(row);
  if (link) link.focus({ preventScroll: true });  // so Enter opens it, as a click would
  row.scrollIntoView({ block: "nearest", behavior: "auto" });
}

function nextUnreadRow() {
  const list = rows();
  const unread = (row) => row.classList.contains("unread") || row.querySelector(".gname > .unread");
  const found = list.slice(list.indexOf(currentRow()) + 1).find(unread);
  if (found) selectRow(found); else onward();
}

/** Click what `selector` finds; false when there is nothing. */
function clickIt(selector) {
  const found = document.querySelector(selector);
  if (found instanceof HTMLElement) found.click();
  return found instanceof HTMLElement;
}

const ROWS = "#group .thread-row, #home .group-row";
const CATCH_UP = "form[action$='/catch-up'] button";

// Each key: [keys, what it does, what the page must hold for it, action (false: nothing done)].
const THREAD = [
  ["j", "next article", "#tree", () => step(articles(), current(), 1, select)],
  ["k", "previous article", "#tree", () => step(articles(), current(), -1, select)],
  ["n", "next new article, then the next unread thread", "#tree", nextNew],
  ["r", "reply to the current article", "#tree [data-action=reply]",
    () => clickIt("#tree .art.current [data-action=reply]")],
  ["c", "mark this thread read", "[data-action=mark-read]", () => clickIt("[data-action=mark-read]")],
  ["u", "mark the current article and the later ones unread", "#tree [data-action=mark-unread]",
    () => clickIt("#tree .art.current [data-action=mark-unread]")],
  ["o", "open the outline of the thread", "[data-action=outline]", () => clickIt("[data-action=outline]")],
  ["g g", "back to the group", "#thread", () => clickIt("#thread > .crumbs a[href^='/g/']")],
];
const LIST = [
  ["j", "next row", ROWS, () => step(rows(), currentRow(), 1, selectRow)],
  ["k", "previous row", ROWS, () => step(rows(), currentRow(), -1, selectRow)],
  ["Enter", "open the current row", ROWS, () => clickIt(".thread-row.current a.tsubj, .group-row.current .gname > a")],
  ["n", "next row with unread articles", ROWS, nextUnreadRow],
  ["c", "catch up: mark every article of this group read", CATCH_UP, () => clickIt(CATCH_UP)],
];
const EVERYWHERE = [
  ["g h", "go to the groups (home)", "body", () => { location.href = "/"; }],
  ["g i", "go to your inbox", "#inbox", () => clickIt("#inbox")],
  ["/", "search", "#site-q", () => document.getElementById("site-q").focus()],
  ["?", "show or hide these keys", "body", toggleHelp],
];

/** The keys of this page, as far as it holds what they act on. */
function pageKeys() {
  const own = document.getElementById("thread") ? THREAD : document.querySelector("#group, #home") ? LIST : [];
  return [...own, ...EVERYWHERE].filter(([, , where]) => document.querySelector(where));
}

function helpDialog() {
  let dialog = document.getElementById("keys");
  if (dialog) return dialog;
  const list = element("dl", { class: "keys" });
  for (const [keys, what] of pageKeys()) {
    const names = keys.split(" ").flatMap((key, i) => [...(i ? [" then "] : []), element("kbd", {}, key)]);
    list.append(element("dt", {}, ...names), element("dd", {}, what));
  }
  const toggle = element("input", { type: "checkbox", id: "keys-on" });
  toggle.checked = keysOn();
  toggle.addEventListener("change", () => setKeysOn(toggle.checked));
  const setting = element("p", { class: "keys-setting" }, toggle, " ",
    element("label", { for: "keys-on" }, "Use these single-key shortcuts"));
  const close = element("form", { method: "dialog" }, element("button", {}, "Close"));
  dialog = element("dialog", { id: "keys", "aria-labelledby": "keys-title" },
    element("h2", { id: "keys-title" }, "Keyboard shortcuts on this page"), list, setting, close);
  document.body.append(dialog);
  return dialog;
}

function toggleHelp() {
  const dialog = helpDialog();
  if (dialog.open) dialog.close(); else dialog.showModal();
}

// The keys work only with this script, so this script makes their help (and
// the footer's way to it, which works with the keys turned off): a text
// browser or a reader without JavaScript never sees it.
function addHint() {
  const footer = document.querySelector("footer.site p");
  if (!footer || footer.querySelector("kbd")) return;
  const open = element("button", { type: "button", class: "linkish", id: "keys-open" }, "keyboard shortcuts");
  open.addEventListener("click", toggleHelp);
  footer.append(" Press ", element("kbd", {}, "?"), " for ", open, ".");
}

let started = false;
let prefix = "";  // "g" while waiting for the key after it

export function startKeys() {
  if (started) return;
  started = true;
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target) || !keysOn()) return;
    if (document.querySelector("dialog[open]:not(#keys)")) return;
    // Enter on a link or button is the browser's own; here it opens the current row.
    if (event.key === "Enter" && event.target instanceof Element && event.target.closest("a, button, summary")) return;
    const pressed = prefix ? `${prefix} ${event.key}` : event.key;
    prefix = "";
    const keys = pageKeys();
    if (keys.some(([k]) => k.startsWith(`${pressed} `))) {
      prefix = pressed;
      event.preventDefault();
      return;
    }
    const found = keys.find(([k]) => k === pressed);
    if (!found || found[3]() === false) return;
    event.preventDefault();
  });
  document.addEventListener("click", (event) => {
    const art = event.target instanceof Element && event.target.closest("#tree .art");
    if (art && !art.classList.contains("current")) {
      const previous = current();
      if (previous) previous.classList.remove("current");
      art.classList.add("current");
    }
  });
}

// Module scripts run once the document is parsed, and a module runs once however often imported.
startKeys();
addHint();
