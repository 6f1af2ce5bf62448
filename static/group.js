// A group page: say when new threads start, and keep the reader's unread
// counts per thread current, without reloading under the reader.
import { connectLive } from "./live.js";
import { badgeCount, fromOthers, setBadge } from "./unread.js";

export function startGroup(element) {
  const note = document.getElementById("new-threads");
  const me = element.dataset.user;
  const row = (id) => element.querySelector(`.thread-row[data-thread="${Number(id)}"]`);
  const setThread = (id, count) => {
    const found = row(id);
    if (!found) return;
    setBadge(found.querySelector(".tmeta"), count, { before: "span:not(.badge)" });
    found.classList.toggle("unread", count > 0);
  };
  const groupCount = element.querySelector(".group-head .gstats");
  connectLive({
    groups: [element.dataset.group],
    since: Number(element.dataset.since) || 0,
    onEvent: (event) => {
      if (event.type === "thread.created" || event.type === "thread.split" || event.type === "thread.moved") {
        if (note) note.hidden = false;
      }
      if (!me) return;
      if (event.type === "article.created" && fromOthers(event.data, me)) {
        const found = row(event.thread_id);
        if (found) setThread(event.thread_id, badgeCount(found.querySelector(".tmeta")) + 1);
        setBadge(groupCount, badgeCount(groupCount) + 1, { word: "unread", before: "span" });
      } else if (event.type === "read.changed" && event.data.group === element.dataset.group) {
        for (const t of event.data.threads) setThread(t.id, t.unread);
        setBadge(groupCount, event.data.unread, { word: "unread", before: "span" });
      }
    },
    onState: (state) => { element.dataset.live = state; },
  });
}

const groupElement = document.getElementById("group");
if (groupElement) startGroup(groupElement);
