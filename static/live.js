// The /live WebSocket: subscribe, resume from the last event id seen, and
// hand each event to `onEvent` once and in order. Reconnects with backoff.
import { liveCounts } from "./counts.js";

// The header's inbox count, on any page with a live connection: a signed-in
// reader's connection also carries their own notification events.
function inbox(event) {
  const link = document.getElementById("inbox");
  if (!link) return;
  let count = link.querySelector(".count");
  const now = count ? Number(count.textContent) || 0 : 0;
  const next = event.type === "notification.created" ? now + 1
    : event.type === "notification.read" ? event.data.unread : now;
  if (next === now) return;
  if (!count) {
    count = document.createElement("span");
    count.className = "count";
    link.append(" ", count);
  }
  count.textContent = String(next);
  count.hidden = next === 0;
}

export function connectLive({ groups = [], threads = [], since = 0, onEvent, onState }) {
  let last = since;
  let retry = 0;
  let socket = null;
  let stopped = false;
  let chain = Promise.resolve();

  function open() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/live");
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "subscribe", groups, threads, since: last }));
    });
    socket.addEventListener("message", (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (event.type === "subscribed") {
        retry = 0;
        onState("connected");
        return;
      }
      if (event.type === "reset") {
        location.reload();
        return;
      }
      if (typeof event.id !== "number" || !event.data) return;  // heartbeat, pong, error
      if (event.id <= last) return;  // ids only grow: a repeat is ignored
      last = event.id;
      inbox(event);
      liveCounts(event);
      // One at a time: an event's fragment is in place before the next is applied.
      chain = chain.then(() => onEvent(event)).catch((error) => console.warn("live update failed", error));
    });
    socket.addEventListener("close", () => {
      if (stopped) return;
      onState("reconnecting");
      const delay = Math.min(30000, 500 * 2 ** retry++) * (0.75 + Math.random() / 2);
      setTimeout(open, delay);
    });
  }

  addEventListener("pagehide", () => {
    stopped = true;
    if (socket) socket.close();
  });
  open();
  return { get last() { return last; } };
}
