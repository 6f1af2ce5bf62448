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
 * arrivals makes one request), then hands them to `apply`.
 */
export function countsLater(what, apply, delay = 250) {
  let timer = null;
  return () => {
    if (timer) return;
    timer = setTimeout(async () => {
      timer = null;
      const { groups = [], threads = [] } = what();
      const query = new URLSearchParams({ groups: groups.slice(0, 100).join(","),
                                          threads: threads.slice(0, 100).join(",") });
      try {
        apply(await api("GET", `/api/unread?${query}`));
      } catch (error) {
        console.warn("unread counts not refreshed", error);
      }
    }, delay);
  };
}
