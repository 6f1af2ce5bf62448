// The thread page's outline: one compact line per article (subject when it
// changes, author, date) in reply order, collapsible by branch, beside the
// articles as tin's thread tree or Thunderbird's pane. Lines come from
// GET /api/threads/{id}/outline a page at a time as the reader scrolls, and
// only the lines on screen are in the document, so a thread of 10,000
// articles costs a few dozen elements. Without scripts the Outline link
// opens the paged outline page instead.
import { api } from "./api.js";
import { element as el } from "./dom.js";
import { select } from "./keys.js";

const OPEN = "moot:outline-open";  // kept open from one thread page to the next
const OVERSCAN = 8;  // lines drawn above and below the visible ones

let root, threadId, panel, scroller, spacer, list, status, total = 0;
let lines = [], nextCursor = null, loading = null, start = null;
let visible = [];  // indexes into `lines` of the lines not inside a collapsed branch
const collapsed = new Set();  // ids of the lines whose branch is closed
let rowHeight = 0, drawn = "", focusId = null;

const article = (id) => document.getElementById("a" + id);
const hasKids = (i) => i + 1 < lines.length && lines[i + 1].depth > lines[i].depth;
const isNew = (line) => line.unread || Boolean(article(line.id)?.classList.contains("new"));

function remember(open) {
  try {
    if (open) sessionStorage.setItem(OPEN, "1"); else sessionStorage.removeItem(OPEN);
  } catch { /* kept for this page only */ }
}

function recompute() {
  visible = [];
  let hideDeeper = Infinity;
  for (let i = 0; i < lines.length; i++) {
    const depth = lines[i].depth;
    if (depth > hideDeeper) continue;
    hideDeeper = collapsed.has(lines[i].id) ? depth : Infinity;
    visible.push(i);
  }
  spacer.style.height = `${visible.length * rowHeight}px`;
  const shown = lines.length.toLocaleString();
  status.textContent = nextCursor || start
    ? `${shown} lines here of ${total.toLocaleString()} articles`
    : `${total.toLocaleString()} article${total === 1 ? "" : "s"}`;
  drawn = "";
  draw();
}

function lineNode(index) {
  const line = lines[index];
  const depth = Math.min(line.depth, 12);
  const item = el("li", {
    class: `oline d${depth}${line.subject_changed ? " changed" : ""}${article(line.id) ? " here" : ""}`,
    "data-id": String(line.id),
  });
  if (hasKids(index)) {
    const open = !collapsed.has(line.id);
    item.append(el("button", {
      type: "button", class: "otoggle", "data-oaction": "toggle", "aria-expanded": String(open),
      "aria-label": `${open ? "Collapse" : "Expand"} the replies to ${line.author}`,
    }, open ? "▾" : "▸"));
  } else {
    item.append(el("span", { class: "otoggle", "aria-hidden": "true" }));
  }
  const link = el("a", { href: line.href, class: "olink" });
  if (line.subject === null) link.append(el("span", { class: "osubj" }, `[${line.status === "hidden" ? "hidden" : "withdrawn"}]`), " ");
  else if (!line.parent_id || line.subject_changed) link.append(el("span", { class: "osubj" }, line.subject), " ");
  link.append(el("span", { class: "oauthor" }, line.author));
  if (line.depth > 12) item.append(el("span", { class: "odepth" }, `(${line.depth})`), " ");
  item.append(link, " ", el("time", { datetime: line.created_at }, line.created_at.slice(0, 16).replace("T", " ")));
  if (isNew(line)) item.append(" ", el("span", { class: "newmark" }, "new"));
  if (location.hash === `#a${line.id}`) link.setAttribute("aria-current", "true");
  return item;
}

/** Draw the lines in view (and a few around them); keeps the focus on the line it was on. */
function draw() {
  if (panel.hidden || !rowHeight) return;
  const first = Math.max(0, Math.floor(scroller.scrollTop / rowHeight) - OVERSCAN);
  const last = Math.min(visible.length, Math.ceil((scroller.scrollTop + scroller.clientHeight) / rowHeight) + OVERSCAN);
  const key = `${first}:${last}`;
  if (key === drawn) return;
  drawn = key;
  const focused = list.contains(document.activeElement) ? document.activeElement : null;
  const keep = focused ? { id: focused.closest(".oline")?.dataset.id, toggle: focused.classList.contains("otoggle") } : null;
  list.style.transform = `translateY(${first * rowHeight}px)`;
  list.replaceChildren(...visible.slice(first, last).map(lineNode));
  if (keep) list.querySelector(`[data-id="${keep.id}"] ${keep.toggle ? ".otoggle" : ".olink"}`)?.focus({ preventScroll: true });
  if (last >= visible.length - OVERSCAN && nextCursor && !loading) more();
}

/** The next page of lines; null when there is none or one is on its way. */
function more() {
  if (!nextCursor || loading) return loading;
  loading = load(nextCursor).finally(() => {
    loading = null;
    drawn = "";
    draw();  // the box not filled yet (a collapsed branch spans the page): the next one
  });
  return loading;
}

async function load(cursor) {
  const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
  const data = await api("GET", `/api/threads/${threadId}/outline${query}`);
  total = Math.max(total, data.thread.article_count);
  const known = new Set(lines.map((l) => l.id));
  lines.push(...data.lines.filter((l) => !known.has(l.id)));
  nextCursor = data.next_cursor;
  recompute();
}

/** Start again from `cursor` (the first article of this thread page), or from the thread's start. */
async function reload(cursor) {
  lines = [];
  collapsed.clear();
  nextCursor = null;
  start = cursor;
  scroller.scrollTop = 0;
  loading = load(cursor).finally(() => { loading = null; });
  await loading;
  fromStart.hidden = !start;
}

/** Scroll the outline so that line `id` is in view, loading pages until it is there (a few at most). */
async function reveal(id) {
  for (let tries = 0; tries < 20; tries++) {
    const at = lines.findIndex((l) => l.id === id);
    if (at !== -1) {
      // open the collapsed branches above it
      for (let i = at - 1, depth = lines[at].depth; i >= 0 && depth > 0; i--) {
        if (lines[i].depth < depth) {
          collapsed.delete(lines[i].id);
          depth = lines[i].depth;
        }
      }
      recompute();
      const row = visible.indexOf(at);
      const top = row * rowHeight;
      if (top < scroller.scrollTop || top + rowHeight > scroller.scrollTop + scroller.clientHeight) {
        scroller.scrollTop = Math.max(0, top - scroller.clientHeight / 3);
      }
      draw();
      return list.querySelector(`[data-id="${id}"] .olink`);
    }
    if (!nextCursor) return null;
    await more();
  }
  return null;
}

/** A line chosen: its article, here when this page shows it, else on the thread page that does. */
function jump(link, event) {
  const id = Number(link.closest(".oline").dataset.id);
  const node = article(id);
  if (!node || event.ctrlKey || event.metaKey || event.shiftKey || event.button === 1) return;
  event.preventDefault();
  for (let up = node.parentElement; up && up !== root; up = up.parentElement) {
    if (up instanceof HTMLDetailsElement) up.open = true;  // a collapsed branch or a killed article
  }
  history.replaceState(history.state, "", `#a${id}`);
  for (const old of list.querySelectorAll("[aria-current]")) old.removeAttribute("aria-current");
  link.setAttribute("aria-current", "true");
  const art = node.querySelector(":scope > .art");
  select(art);
  art.scrollIntoView({ block: "start" });
}

function toggle(id) {
  if (collapsed.has(id)) collapsed.delete(id); else collapsed.add(id);
  recompute();
}

/** Up/Down between lines, Left/Right close and open a branch, Home/End. */
function onKey(event) {
  const row = event.target instanceof Element && event.target.closest(".oline");
  if (!row) return;
  const id = Number(row.dataset.id);
  const at = visible.findIndex((i) => lines[i].id === id);
  const index = visible[at];
  let to = null;
  if (event.key === "ArrowDown") to = at + 1;
  else if (event.key === "ArrowUp") to = at - 1;
  else if (event.key === "Home") to = 0;
  else if (event.key === "End") to = visible.length - 1;
  else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
    const open = !collapsed.has(id);
    if (hasKids(index) && open === (event.key === "ArrowLeft")) toggle(id);
    else if (event.key === "ArrowLeft") {  // to the line it answers
      for (let i = index - 1; i >= 0; i--) if (lines[i].depth < lines[index].depth) { to = visible.indexOf(i); break; }
    }
    if (to === null) {
      event.preventDefault();
      list.querySelector(`[data-id="${id}"] .olink`)?.focus();
      return;
    }
  } else return;
  event.preventDefault();
  to = Math.max(0, Math.min(visible.length - 1, to));
  reveal(lines[visible[to]].id).then((link) => link?.focus());
}

let fromStart;

function build() {
  const pageLink = el("a", { href: `/t/${threadId}/outline` }, "Outline page");
  fromStart = el("button", { type: "button", class: "linkish", "data-oaction": "start", hidden: "" }, "From the start");
  const collapseAll = el("button", { type: "button", class: "linkish", "data-oaction": "collapse" }, "Collapse branches");
  const expandAll = el("button", { type: "button", class: "linkish", "data-oaction": "expand" }, "Expand all");
  const close = el("button", { type: "button", class: "linkish", "data-oaction": "close" }, "Close");
  status = el("span", { class: "ostatus", role: "status" });
  list = el("ul", { class: "outline olist", "aria-labelledby": "outline-h" });
  spacer = el("div", { class: "ospacer" }, list);
  scroller = el("div", { class: "oscroll" }, spacer);
  panel = el("section", { class: "outline-panel panel", id: "outline-panel", "aria-labelledby": "outline-h", hidden: "" },
    el("div", { class: "obar" }, el("h2", { id: "outline-h" }, "Outline"), " ", status, " ",
      fromStart, " ", collapseAll, " ", expandAll, " ", pageLink, " ", close),
    scroller);
  const before = document.getElementById("pager-top") || document.getElementById("tree");
  before.before(panel);
  scroller.addEventListener("scroll", () => requestAnimationFrame(draw), { passive: true });
  panel.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    const action = target?.closest("[data-oaction]")?.dataset.oaction;
    const link = target?.closest(".olink");
    if (link) jump(link, event);
    else if (action === "toggle") toggle(Number(target.closest(".oline").dataset.id));
    else if (action === "close") hide();
    else if (action === "start") reload(null);
    else if (action === "collapse") {
      lines.forEach((line, i) => { if (line.depth === 1 && hasKids(i)) collapsed.add(line.id); });
      recompute();
    } else if (action === "expand") {
      collapsed.clear();
      recompute();
    }
  });
  list.addEventListener("keydown", onKey);
  addEventListener("resize", () => { drawn = ""; draw(); });
}

function hide() {
  panel.hidden = true;
  remember(false);
  document.querySelector('[data-action="outline"]')?.focus();
}

/** Open the outline (loading its first page: this thread page's lines) and put
 *  the current article's line, or the first of this page, in view. */
export async function showOutline({ focus = true } = {}) {
  if (!panel) build();
  panel.hidden = false;
  remember(true);
  if (!rowHeight) {  // measured once: every line is one row of the same height
    list.append(el("li", { class: "oline" }, "x"));
    rowHeight = list.firstChild.getBoundingClientRect().height || 28;
    list.replaceChildren();
  }
  if (!lines.length && !loading) await reload(new URLSearchParams(location.search).get("cursor"));
  else if (loading) await loading;
  const here = document.querySelector("#tree .art.current")?.closest(".node")
    || (location.hash.startsWith("#a") && article(location.hash.slice(2)))
    || document.querySelector("#tree .node");
  const link = here ? await reveal(Number(here.dataset.id)) : null;
  if (focus) (link || panel.querySelector("h2")).focus({ preventScroll: true });
  panel.scrollIntoView({ block: "nearest" });
  return panel;
}

/** A live arrival: its line goes after its parent's branch, marked new unless it is the reader's own. */
export function arrived(data, mine) {
  if (!panel || data.thread_id !== threadId || lines.some((l) => l.id === data.id)) return;
  total += 1;
  const parentAt = lines.findIndex((l) => l.id === data.parent_id);
  if (parentAt === -1) return recompute();  // its parent's line is not loaded: it comes with its page
  const parent = lines[parentAt];
  let at = parentAt + 1;
  while (at < lines.length && lines[at].depth > parent.depth) at++;
  if (at === lines.length && nextCursor) return recompute();  // its place is in a page not loaded yet
  const replySubject = "Re: " + (parent.subject || "").replace(/^(\s*(re|aw|sv)\s*:\s*)+/i, "");
  lines.splice(at, 0, {
    id: data.id,
    parent_id: data.parent_id,
    depth: data.depth,
    subject: data.subject,
    author: data.author.display_name,
    created_at: data.created_at,
    status: "ok",
    subject_changed: parent.subject !== null && data.subject !== replySubject,
    href: article(data.id) ? `${location.pathname}${location.search}#a${data.id}` : `/m/${encodeURIComponent(data.message_id.slice(1, -1))}`,
    unread: !mine,
  });
  recompute();
}

/** After the thread changed shape (a split, a merge): lines read again. */
export function reshaped() {
  if (panel && !panel.hidden) reload(start);
  else lines = [];
}

export function startOutline(element) {
  root = element;
  threadId = Number(root.dataset.threadId);
  if (!document.getElementById("tree")) return;
  // on the root: a live re-read replaces the header that holds the link
  root.addEventListener("click", (event) => {
    const opener = event.target instanceof Element && event.target.closest('[data-action="outline"]');
    if (!opener || event.ctrlKey || event.metaKey || event.shiftKey) return;  // the outline page, in a new tab
    event.preventDefault();
    showOutline();
  });
  let open = false;
  try { open = sessionStorage.getItem(OPEN) === "1"; } catch { /* closed */ }
  if (open) showOutline({ focus: false });
}
