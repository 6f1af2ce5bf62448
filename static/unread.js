// A reader's unread counts on open pages: the small badges the server
// renders ("3 new"), kept current from live events without a reload.

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

export function badgeCount(holder) {
  const badge = holder && holder.querySelector(":scope > .unread");
  return badge ? parseInt(badge.textContent, 10) || 0 : 0;
}

/** Whether a live article or thread event came from someone else (it raises counts). */
export function fromOthers(article, me) {
  return article && article.status === "ok" && (!me || article.author.username !== me);
}
