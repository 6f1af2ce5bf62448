// A group page: say when new threads start, and keep the reader's unread
// counts per thread current, without reloading under the reader. Counts come
// from the server, so the reader's killfile applies to them.
import { connectLive } from "./live.js";
import { countsLater, setBadge } from "./unread.js";

// Only live updates ever show this note, so it is made here, not in the page.
function newThreadsNote(element) {
  let note = document.getElementById("new-threads");
  if (note) return note;
  note = document.createElement("p");
  note.className = "live-note";
  note.id = "new-threads";
  note.hidden = true;
  const link = document.createElement("a");
  link.href = `/g/${element.dataset.group}`;
  link.textContent = "New threads have started: show them";
  note.append(link);
  const heading = document.getElementById("open-h");
  if (heading) heading.after(note); else element.prepend(note);
  return note;
}

export function startGroup(element) {
  const note = newThreadsNote(element);
  const me = element.dataset.user;
  const name = element.dataset.group;
  const row = (id) => element.querySelector(`.thread-row[data-thread="${Number(id)}"]`);
  const setThread = (id, count) => {
    const found = row(id);
    if (!found || found.classList.contains("killed")) return;
    setBadge(found.querySelector(".tmeta"), count, { before: "span:not(.badge)" });
    found.classList.toggle("unread", count > 0);
  };
  const groupCount = element.querySelector(".group-head .gstats");
  const refresh = countsLater(
    () => ({ groups: [name],
             threads: Array.from(element.querySelectorAll(".thread-row[data-thread]")).map((r) => r.dataset.thread) }),
    (counts) => {
      for (const [id, count] of Object.entries(counts.threads)) setThread(id, count);
      setBadge(groupCount, counts.groups[name] || 0, { word: "unread", before: "span" });
    });
  connectLive({
    groups: [name],
    since: Number(element.dataset.since) || 0,
    onEvent: (event) => {
      if (event.type === "thread.created" || event.type === "thread.split" || event.type === "thread.moved") {
        if (note) note.hidden = false;
      }
      if (!me) return;
      if (event.type === "article.created" || event.type === "article.cancelled") {
        refresh();
      } else if (event.type === "read.changed" && event.data.group === name) {
        refresh.supersede();
        for (const t of event.data.threads) setThread(t.id, t.unread);
        setBadge(groupCount, event.data.unread, { word: "unread", before: "span" });
      }
    },
    onState: (state) => { element.dataset.live = state; },
  });
}

const groupElement = document.getElementById("group");
if (groupElement) startGroup(groupElement);
