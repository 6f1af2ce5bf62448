// The home page, live: each group's "N new" rises as others post and falls
// as the reader reads elsewhere (read.changed reaches only their own pages).
// Counts come from the server, so the reader's killfile applies to them.
// Every reader's page keeps its groups' totals current (live.js, counts.js).
import { connectLive } from "./live.js";
import { countsLater, setBadge } from "./unread.js";

export function startHome(element) {
  const me = element.dataset.user;
  // A group may be listed twice: under "Your groups" and in its hierarchy.
  const holders = (name) => Array.from(element.querySelectorAll(`.gname > a[href="/g/${CSS.escape(name)}"]`))
    .map((link) => link.parentElement);
  const show = (name, count) => {
    for (const holder of holders(name)) setBadge(holder, count, { href: `/g/${name}`, before: ".badge" });
  };
  const refresh = countsLater(
    () => ({ groups: [...new Set(Array.from(element.querySelectorAll(".gname > a"))
      .map((a) => a.textContent.trim()))] }),
    (counts) => { for (const [name, count] of Object.entries(counts.groups)) show(name, count); });
  connectLive({
    groups: ["*"],
    since: Number(element.dataset.since) || 0,
    onEvent: (event) => {
      if (!me) return;
      if (event.type === "article.created" || event.type === "thread.created") refresh();
      else if (event.type === "read.changed") {
        refresh.supersede();
        show(event.data.group, event.data.unread);
      }
    },
    onState: (state) => { element.dataset.live = state; },
  });
}

const homeElement = document.getElementById("home");
if (homeElement) startHome(homeElement);
