// A group page: say when new threads start, without reloading under the reader.
import { connectLive } from "./live.js";

export function startGroup(element) {
  const note = document.getElementById("new-threads");
  if (!note) return;
  connectLive({
    groups: [element.dataset.group],
    since: Number(element.dataset.since) || 0,
    onEvent: (event) => {
      if (event.type === "thread.created" || event.type === "thread.split" || event.type === "thread.moved") {
        note.hidden = false;
      }
    },
    onState: (state) => { element.dataset.live = state; },
  });
}

const groupElement = document.getElementById("group");
if (groupElement) startGroup(groupElement);
