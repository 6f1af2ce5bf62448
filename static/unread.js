// A reader's unread counts on open pages: the small badges the server
// renders ("3 new"), kept current from live events without a reload.
import { api } from "./api.js";

/** Show `count` in the badge inside `holder` (made when missing, removed at 0). */
export function setBadge(holder, count, { word = "new", tag = "span", href = null, before = null } = {}) {
  if (!holder) return;
  let badge = holder.querySelector(":scope > .unread");
  if (!count) {
    if (badge) badge.remove();
    return;
  }
  if (!badge) {
    badge = document.createElement(href ? "a" : tag);
    badge.className = "unread";
    if (href) badge.href = href;
    holder.insertBefore(badge, before ? holder.querySelector(before) : null);
  }
  badge.textContent = `${count >= 1000 ? "999+" : count} ${word}`;
}

/**
 * A function that asks the server for the reader's counts of what `what()`
 * names ({groups, threads}) a moment after it was last called (a burst of
 * arrivals makes one request), then hands them to `apply`. Its `supersede()`
 * says fresher counts have just been shown (a read.changed event): an answer
 * to a request made before then may predate them, so it is dropped and the
 * counts asked again.
 */
export function countsLater(what, apply, delay = 250) {
  let timer = null;
  let generation = 0;
  const refresh = () => {
    if (timer) return;
    timer = setTimeout(async () => {
      timer = null;
      const asked = generation;
      const { groups = [], threads = [] } = what();
      const query = new URLSearchParams({ groups: groups.slice(0, 100).join(","),
                                          threads: threads.slice(0, 100).join(",") });
      try {
        const counts = await api("GET", `/api/unread?${query}`);
        if (asked === generation) apply(counts);
        else refresh();  // asked before fresher counts were shown: ask again
      } catch (error) {
        console.warn("unread counts not refreshed", error);
      }
    }, delay);
  };
  refresh.supersede = () => { generation += 1; };
  return refresh;
}
