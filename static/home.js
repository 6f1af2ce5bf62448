// The home page, live: each group's "N new" rises as others post and falls
// as the reader reads elsewhere (read.changed reaches only their own pages).
import { connectLive } from "./live.js";
import { badgeCount, fromOthers, setBadge } from "./unread.js";

export function startHome(element) {
  const me = element.dataset.user;
  if (!me) return;
  const holder = (name) => {
    const link = element.querySelector(`.gname > a[href="/g/${CSS.escape(name)}"]`);
    return link && link.parentElement;
  };
  const bump = (name, article) => {
    if (!fromOthers(article, me)) return;
    const box = holder(name);
    setBadge(box, badgeCount(box) + 1, { href: `/g/${name}`, before: ".badge" });
  };
  connectLive({
    groups: ["*"],
    since: Number(element.dataset.since) || 0,
    onEvent: (event) => {
      if (event.type === "article.created") bump(event.group, event.data);
      else if (event.type === "thread.created") bump(event.group, event.data.article);
      else if (event.type === "read.changed") {
        setBadge(holder(event.data.group), event.data.unread, { href: `/g/${event.data.group}`, before: ".badge" });
      }
    },
    onState: (state) => { element.dataset.live = state; },
  });
}

const homeElement = document.getElementById("home");
if (homeElement) startHome(homeElement);
