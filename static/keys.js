// Newsreader keys: j/k next/previous article, n next new, r reply, / search, ? help.

function typing(target) {
  return target instanceof HTMLElement &&
    (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
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

function step(delta) {
  const list = articles();
  if (!list.length) return;
  const at = list.indexOf(current());
  let next;
  if (at === -1) {
    // Start from the first article whose top is on screen.
    next = delta > 0 ? list.find((el) => el.getBoundingClientRect().top >= 0) || list[0] : list[0];
  } else {
    next = list[Math.min(list.length - 1, Math.max(0, at + delta))];
  }
  select(next);
}

/** The next article marked new after the current one (the first not yet seen when none follows). */
export function nextNew() {
  const list = articles();
  const at = list.indexOf(current());
  const isNew = (el) => el.parentElement.classList.contains("new");
  const after = list.slice(at + 1).find(isNew);
  const unseen = list.find((el) => el.parentElement.classList.contains("unseen"));
  if (after || unseen) {
    select(after || unseen);
    return;
  }
  // Nothing new here: on to the next unread article elsewhere, as a newsreader's `n`.
  const onward = document.querySelector('[data-action="next-unread"]');
  if (onward) location.href = onward.href;
}

// The keys work only with this script, so this script makes their help (and
// the footer's hint): a text browser or a reader without JavaScript never sees it.
const KEYS = [["j", "next article"], ["k", "previous article"], ["n", "next new article"],
  ["r", "reply to the current article"], ["/", "search"], ["?", "show or hide these keys"]];

function element(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  el.append(...children);
  return el;
}

function helpDialog() {
  let dialog = document.getElementById("keys");
  if (dialog) return dialog;
  const list = element("dl", { class: "keys" });
  for (const [key, what] of KEYS) list.append(element("dt", {}, element("kbd", {}, key)), element("dd", {}, what));
  const close = element("form", { method: "dialog" }, element("button", {}, "Close"));
  dialog = element("dialog", { id: "keys", "aria-labelledby": "keys-title" },
    element("h2", { id: "keys-title" }, "Keyboard shortcuts"), list, close);
  document.body.append(dialog);
  return dialog;
}

function addHint() {
  const footer = document.querySelector("footer.site p");
  if (footer && !footer.querySelector("kbd")) footer.append(" Press ", element("kbd", {}, "?"), " for keyboard shortcuts.");
}

function toggleHelp() {
  const dialog = helpDialog();
  if (dialog.open) dialog.close(); else dialog.showModal();
}

export function startKeys() {
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (document.querySelector("dialog[open]:not(#keys)")) return;
    switch (event.key) {
      case "j": step(1); break;
      case "k": step(-1); break;
      case "n": nextNew(); break;
      case "r": {
        const art = current();
        const link = art && art.querySelector('[data-action="reply"]');
        if (link) link.click(); else return;
        break;
      }
      case "/": {
        const search = document.getElementById("site-q");
        if (search) search.focus(); else return;
        break;
      }
      case "?": toggleHelp(); break;
      default: return;
    }
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
