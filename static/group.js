// A group page: say when new threads start, without reloading under the reader.
import { connectLive } from "./live.js";

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
