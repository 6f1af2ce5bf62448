// The thread page, enhanced: new articles arrive live (marked new, with an
// "N new" pill when off screen), inline replies, and the split
// notice replacing moved articles. Every piece of markup comes from the server.
import { api, fragment, page, showError } from "./api.js";
import { connectLive } from "./live.js";
import { nextNew, select } from "./keys.js";
import { enhanceReply } from "./compose.js";
import { arrived, reshaped, startOutline } from "./outline.js";

let root, tree, threadId, newbar, newcount, status;

function byId(id) {
  return document.getElementById("a" + id);
}

function announce(text) {
  if (status) status.textContent = text;
}

// "N new": articles that arrived and have not been on screen yet.
const watcher = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (entry.isIntersecting) seen(entry.target.closest(".node"));
  }
}, { threshold: 0.6 }) : null;

function seen(node) {
  if (!node || !node.classList.contains("unseen")) return;
  node.classList.remove("unseen");
  if (watcher) watcher.unobserve(node.querySelector(":scope > .art"));
  updateNewbar();
  markRead(Number(node.dataset.id));
}

// An article that arrived live and came on screen is read: marks are sent in
// small batches, and the server tells the reader's other pages (read.changed).
// The "new" marks this page was served with stay for the length of the visit,
// as a newsreader keeps them until the reader leaves the group.
let toMark = [];
let markTimer = null;
function markRead(id) {
  if (!root.dataset.user || !id) return;
  toMark.push(id);
  if (markTimer) return;
  markTimer = setTimeout(() => {
    const ids = toMark;
    toMark = [];
    markTimer = null;
    api("POST", `/api/threads/${threadId}/read`, { article_ids: ids }).catch(() => {});
  }, 300);
}


function updateNewbar() {
  const count = tree.querySelectorAll(".node.unseen").length;
  newcount.textContent = String(count);
  newbar.hidden = count === 0;
}

// The reader's own articles (a moderator's split notice too) are never new to them.
function markNew(node) {
  const author = node.querySelector(":scope > .art a.author");
  if (root.dataset.user && author?.getAttribute("href") === `/u/${root.dataset.user}`) return;
  node.classList.add("new", "unseen");
  const art = node.querySelector(":scope > .art");
  if (watcher && art) watcher.observe(art); else node.classList.remove("unseen");
  updateNewbar();
}

// "2 replies, 5 in this branch": direct answers, then the whole sub-tree when it holds more.
function repliesLabel(summary, direct, branch, name) {
  summary.replaceChildren();
  summary.dataset.direct = String(direct);
  summary.dataset.branch = String(branch);
  const hidden = document.createElement("span");
  hidden.className = "vh";
  hidden.textContent = `Replies to ${name}: `;
  const n = document.createElement("span");
  n.className = "n";
  n.textContent = String(direct);
  summary.append(hidden, n, direct === 1 ? " reply" : " replies");
  if (branch > direct) {
    const more = document.createElement("span");
    more.className = "branch";
    more.textContent = `, ${branch} in this branch`;
    summary.append(more);
  }
}

function countUp(node, delta) {
  let first = true;
  for (let up = node.parentElement && node.parentElement.closest(".node"); up;
       up = up.parentElement && up.parentElement.closest(".node")) {
    const summary = up.querySelector(":scope > details.kids > summary");
    if (!summary) { first = false; continue; }
    const name = up.querySelector(":scope > .art .author");
    const direct = Number(summary.dataset.direct || 0) + (first ? delta : 0);
    const branch = Number(summary.dataset.branch || 0) + delta;
    repliesLabel(summary, Math.max(0, direct), Math.max(0, branch), name ? name.textContent : "");
    first = false;
  }
}

async function articleNode(id) {
  const content = await fragment(`/t/${threadId}/fragment/a/${id}`);
  return content && content.querySelector("li.node");
}

/** Put an article into the tree where it belongs; returns its node (or null when its
 *  parent is not on this page). */
async function insertArticle(article, { fresh = true } = {}) {
  if (article.thread_id !== threadId) return null;
  if (byId(article.id)) return byId(article.id);
  const node = await articleNode(article.id);
  if (!node || byId(article.id)) return byId(article.id);
  if (root.dataset.view === "flat" || article.parent_id === null) {
    tree.append(node);
  } else {
    const parent = byId(article.parent_id);
    if (!parent) return null;
    let kids = parent.querySelector(":scope > details.kids > ol.tree");
    if (!kids) {
      const details = document.createElement("details");
      details.className = "kids";
      details.open = true;
      const summary = document.createElement("summary");
      kids = document.createElement("ol");
      kids.className = "tree";
      details.append(summary, kids);
      parent.append(details);
      repliesLabel(summary, 0, 0, "");
    }
    kids.append(node);
    countUp(node, 1);
  }
  if (fresh) markNew(node);
  return node;
}

async function replaceArticle(article) {
  const old = byId(article.id);
  if (!old) return;
  const node = await articleNode(article.id);
  if (!node) return;
  old.querySelector(":scope > .art").replaceWith(node.querySelector(":scope > .art"));
  old.className = node.className + (old.classList.contains("new") ? " new" : "");
}

let refreshes = 0;

/** Re-read this page from the server and swap in its header and tree, keeping
 *  the marks of articles that arrived while reading. When re-reads overlap
 *  (a live event and a moderator's own action), only the last one started
 *  is applied: an earlier answer may predate the change the later one shows. */
async function refresh() {
  const mine = ++refreshes;
  const doc = await page(location.pathname + location.search);
  if (!doc || mine !== refreshes) return;
  const fresh = doc.getElementById("thread");
  if (!fresh) return;
  if (doc.title) document.title = doc.title;
  const marked = new Set(Array.from(tree.querySelectorAll(".node.new")).map((n) => n.id));
  const before = new Set(Array.from(tree.querySelectorAll(".node")).map((n) => n.id));
  // The breadcrumb too (a move changes the group); a moderator's open tools stay open.
  const toolsOpen = document.querySelector(".modtools")?.open;
  document.getElementById("thread-head").replaceWith(doc.getElementById("thread-head"));
  const crumbs = doc.querySelector("#thread > nav.crumbs");
  const oldCrumbs = document.querySelector("#thread > nav.crumbs");
  if (crumbs && oldCrumbs) oldCrumbs.replaceWith(crumbs);
  const tools = document.querySelector(".modtools");
  if (tools && toolsOpen) tools.open = true;
  const newTree = doc.getElementById("tree");
  tree.replaceWith(newTree);
  tree = newTree;
  root.dataset.state = fresh.dataset.state;
  for (const node of tree.querySelectorAll(".node")) {
    if (marked.has(node.id) || !before.has(node.id)) markNew(node);
  }
  updateNewbar();
}

async function onEvent(event) {
  const data = event.data;
  switch (event.type) {
    case "article.created":
      if (await insertArticle(data)) announce(`New article from ${data.author.display_name}`);
      arrived(data, Boolean(root.dataset.user) && data.author.username === root.dataset.user);
      break;
    case "article.cancelled":
    case "article.updated":  // withdrawn, or edited by its author: the server's new rendering
    case "article.hidden":  // hidden pending review after reports, or shown again
    case "article.restored":
      await replaceArticle(data);
      break;
    case "thread.split":
      if (data.source && data.source.id === threadId && !data.undo_of && byId(data.root_article_id)) {
        const moved = byId(data.root_article_id);
        const count = moved.querySelectorAll(".node").length + 1;
        if (data.notice) {
          const notice = await articleNode(data.notice.id);
          if (notice) {
            moved.replaceWith(notice);
            countUp(notice, 1 - count);
            markNew(notice);
          } else {
            moved.remove();
          }
        } else {
          moved.remove();
        }
        for (const id of data.article_ids || []) {
          const left = byId(id);
          if (left) left.remove();
        }
        announce(`${data.article_ids.length} articles were split off into “${data.thread.subject}”.`);
      } else {
        await refresh();
      }
      reshaped();
      break;
    default:
      if (event.type.startsWith("thread.")) {
        await refresh();
        reshaped();
      }
  }
}

/** Where the selection in an article lies in its text as written, as the
 *  `from` and `to` (LINE.COLUMN) the reply form takes; each rendered block
 *  says in data-line where it starts. Null when nothing there is selected. */
function selectedSpan(node) {
  const body = node && node.querySelector(":scope > .art .body");
  const selection = getSelection();
  if (!body || !selection || selection.isCollapsed || !selection.rangeCount) return null;
  const range = selection.getRangeAt(0);
  const hit = Array.from(body.querySelectorAll(":scope > pre[data-line]")).filter((pre) => range.intersectsNode(pre));
  if (!hit.length || !range.toString().trim()) return null;
  const place = (pre, container, offset) => {
    const before = document.createRange();
    before.setStart(pre, 0);
    before.setEnd(container, offset);
    const lines = before.toString().split("\n");
    return `${Number(pre.dataset.line) + lines.length - 1}.${lines[lines.length - 1].length}`;
  };
  const first = hit[0];
  const last = hit[hit.length - 1];
  return {
    from: first.contains(range.startContainer) ? place(first, range.startContainer, range.startOffset) : `${first.dataset.line}.0`,
    to: last.contains(range.endContainer) ? place(last, range.endContainer, range.endOffset) : place(last, last, last.childNodes.length),
  };
}

// A press on Reply may clear the selection before the click: it is read on the way down.
let pressedSpan = null;

function closeReply(form) {
  const link = form.closest(".node")?.querySelector(':scope > .art [data-action="reply"]');
  form.remove();
  if (link) link.focus();
}

// Inline reply: the server renders the form (quoted text included: the
// selection, or the article without its quotes); posting goes through the
// JSON API; the new article is fetched as a fragment.
async function openReply(link, span) {
  const id = link.dataset.id;
  const node = byId(id);
  const existing = node && node.querySelector(":scope > form.reply-form");
  if (existing) {
    existing.querySelector("textarea").focus();
    return;
  }
  const quote = span ? `&from=${span.from}&to=${span.to}` : "";
  const content = await fragment(`/a/${id}/reply?fragment=1${quote}`);
  const form = content && content.querySelector("form.reply-form");
  if (!form || !node) {
    location.href = link.href;
    return;
  }
  node.querySelector(":scope > .art").after(form);
  enhanceReply(form);
  const text = form.querySelector("textarea");
  text.focus();
  text.setSelectionRange(text.value.length, text.value.length);
}

async function submitReply(form) {
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const body = form.elements.body.value;
    const subject = form.elements.subject ? form.elements.subject.value.trim() : "";
    const payload = subject ? { body, subject } : { body };
    const { article, held } = await api("POST", `/api/articles/${form.dataset.parent}/replies`, payload);
    if (held) {  // a moderated group: it waits for the moderators
      location.href = `/g/${encodeURIComponent(held.group)}?held=${held.id}`;
      return;
    }
    form.remove();
    const node = await insertArticle(article, { fresh: false });
    if (node) select(node.querySelector(":scope > .art"));
    announce("Your reply was posted.");
  } catch (error) {
    showError(form, error.message);
    button.disabled = false;
  }
}

export function startThread(element) {
  root = element;
  tree = document.getElementById("tree");
  threadId = Number(root.dataset.threadId);
  // The "N new" bar only ever counts live arrivals, so this script makes it.
  newbar = document.createElement("div");
  newbar.className = "newbar";
  newbar.id = "newbar";
  newbar.hidden = true;
  const next = document.createElement("button");
  next.type = "button";
  next.dataset.action = "next-new";
  newcount = document.createElement("span");
  newcount.id = "newcount";
  newcount.textContent = "0";
  next.append(newcount, " new");
  newbar.append(next);
  const liveStatus = document.getElementById("live-status");
  if (liveStatus) liveStatus.before(newbar); else root.append(newbar);
  status = document.getElementById("live-status");

  root.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target.closest("[data-action]") : null;
    if (!target) return;
    const action = target.dataset.action;
    if (action === "reply" && root.dataset.user) {
      event.preventDefault();
      openReply(target, pressedSpan || selectedSpan(byId(target.dataset.id)));
      pressedSpan = null;
    } else if (action === "close-reply") {
      closeReply(target.closest("form"));
    } else if (action === "next-new") {
      nextNew();
    }
  });
  root.addEventListener("pointerdown", (event) => {
    const link = event.target instanceof Element && event.target.closest('[data-action="reply"]');
    pressedSpan = link ? selectedSpan(byId(link.dataset.id)) : null;
  }, true);
  root.addEventListener("keydown", (event) => {
    const form = event.key === "Escape" && event.target instanceof Element && event.target.closest("form.reply-form");
    if (form) closeReply(form);
  });
  root.addEventListener("submit", (event) => {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.classList.contains("reply-form")) {
      event.preventDefault();
      submitReply(form);
    }
  });
  root.addEventListener("moot:seen", (event) => seen(event.target));
  // Another script asks for a re-read; `detail.done` settles when it is in place.
  root.addEventListener("moot:refresh", (event) => {
    const done = refresh();
    if (event.detail) event.detail.done = done;
  });

  startOutline(root);
  connectLive({
    threads: [threadId],
    since: Number(root.dataset.since) || 0,
    onEvent,
    onState: (state) => {
      root.dataset.live = state;
      announce(state === "connected" ? "Live: new articles appear as they are posted." : "Reconnecting…");
    },
  });
}

const threadElement = document.getElementById("thread");
if (threadElement) startThread(threadElement);
