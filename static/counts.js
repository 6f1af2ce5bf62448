// Counts kept current from live events, on whatever page shows them: the
// "N articles" of a thread (its header, its row on a group page) and the
// "N threads", "N articles" of a group (its header, its row on the home page),
// marked in the page with data-count="thread:ID", "group:NAME" (articles) or
// "threads:NAME" (with data-noun="thread"). Events come
// once and in order after the page's own snapshot, so an arrival adds one;
// an event that carries a thread's or group's JSON sets its counters outright.
// The tab title shows "(N) " for arrivals while the tab is in the background.

function show(el, n) {
  const noun = el.dataset.noun || "article";
  el.textContent = `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function counted(key) {
  return document.querySelectorAll(`[data-count="${CSS.escape(key)}"]`);
}

function add(key, delta) {
  for (const el of counted(key)) show(el, (parseInt(el.textContent, 10) || 0) + delta);
}

function set(key, value) {
  if (typeof value !== "number") return;
  for (const el of counted(key)) show(el, value);
}

function setThread(thread) {
  if (thread && typeof thread === "object") set(`thread:${thread.id}`, thread.article_count);
}

function setGroup(group) {
  if (!group || typeof group !== "object") return;
  set(`group:${group.name}`, group.article_count);
  set(`threads:${group.name}`, group.thread_count);
}

// The title's "(N) " for arrivals the reader has not had the tab open to see.
let unseen = 0;
let shown = "";  // the "(N) " this script put before the page's title

function retitle() {
  const plain = document.title.startsWith(shown) ? document.title.slice(shown.length) : document.title;
  shown = unseen ? `(${unseen}) ` : "";
  document.title = shown + plain;
}

function arrived() {
  if (document.visibilityState !== "hidden") return;
  unseen += 1;
  retitle();
}

// A page that re-reads itself (thread.js) puts back its plain title: the count stays.
const titleElement = document.querySelector("title");
if (titleElement) {
  new MutationObserver(() => { if (unseen && !document.title.startsWith(shown)) retitle(); })
    .observe(titleElement, { childList: true, characterData: true, subtree: true });
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden" || !unseen) return;
  unseen = 0;
  retitle();
});

/** Apply one live event's effect on the counts and the title. */
export function liveCounts(event) {
  const data = event.data;
  if (event.type === "article.created") {
    add(`thread:${data.thread_id}`, 1);
    add(`group:${data.group}`, 1);
    arrived();
  } else if (event.type === "thread.created") {
    add(`threads:${data.thread.group}`, 1);
    add(`group:${data.thread.group}`, 1);
    arrived();
  } else {
    setThread(data.thread);
    setThread(data.source);
    setGroup(data.group);
    for (const group of data.groups || []) setGroup(group);
  }
}
