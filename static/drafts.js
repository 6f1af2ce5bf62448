// Drafts: a form marked data-draft="PLACE" keeps what is typed in
// localStorage on every change and, for a signed-in writer (data-draft-sync),
// on the server on blur and at most every 10 s, so it follows them to another
// device. The form is restored when it loads; when this device and the server
// hold different versions, the writer is shown both and chooses. Sending
// forgets the local copy (the server discards its own as the post lands).
import { api, ApiError } from "./api.js";
import "./mentions.js";  // @names completed in the same forms

const EVERY = 10_000;  // ms between two saves to the server, at most one
const states = new WeakMap();

const key = (place) => `moot:draft:${place}`;
const url = (place) => `/api/drafts/${encodeURIComponent(place)}`;

function readLocal(place) {
  try {
    return JSON.parse(localStorage.getItem(key(place)));
  } catch {
    return null;
  }
}

function writeLocal(place, entry) {
  try {
    localStorage.setItem(key(place), JSON.stringify(entry));
  } catch {
    // storage full or refused: the server copy (if any) still holds it
  }
}

function forgetLocal(place) {
  try {
    localStorage.removeItem(key(place));
  } catch {
    // nothing kept, nothing to forget
  }
}

function fields(form) {
  const subject = form.elements.subject;
  return { subject: subject ? subject.value : "", body: form.elements.body.value };
}

function same(a, b) {
  return a.body === b.body && (a.subject || "") === (b.subject || "");
}

function fill(form, draft) {
  form.elements.body.value = draft.body;
  const subject = form.elements.subject;
  if (subject && draft.subject !== undefined) {
    subject.value = draft.subject;
    const details = subject.closest("details");
    if (details && draft.subject) details.open = true;
  }
}

function remember(form, state) {
  writeLocal(state.place, { ...fields(form), version: state.version, at: Date.now() });
}

function changed(form, state) {
  state.sent = false;
  state.dirty = true;
  remember(form, state);
  if (state.sync && !state.timer) {
    const wait = Math.max(2000, state.last + EVERY - Date.now());
    state.timer = setTimeout(() => save(form, state), wait);
  }
}

async function save(form, state) {
  clearTimeout(state.timer);
  state.timer = 0;
  if (!state.sync || !state.dirty || state.saving || state.sent || state.choosing) return;
  state.dirty = false;
  state.saving = true;
  state.last = Date.now();
  const draft = fields(form);
  try {
    if (!draft.body.trim() && !draft.subject.trim()) {
      if (state.version) await api("DELETE", url(state.place), {});
      state.version = 0;
    } else {
      state.version = (await api("PUT", url(state.place), { ...draft, version: state.version })).draft.version;
    }
    const kept = readLocal(state.place);
    if (kept) writeLocal(state.place, { ...kept, version: state.version });
  } catch (error) {
    if (error instanceof ApiError && error.status === 409 && error.detail.draft) {
      choose(form, state, error.detail.draft);
    } else if (!(error instanceof ApiError) || error.status === 429 || error.status >= 500) {
      changed(form, state);  // offline or too fast: kept here, tried again later
    }
  } finally {
    state.saving = false;
  }
}

function version(title, draft, onKeep) {
  const figure = document.createElement("figure");
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  const text = document.createElement("pre");
  text.textContent = draft.subject ? `${draft.subject}\n\n${draft.body}` : draft.body;
  const keep = document.createElement("button");
  keep.type = "button";
  keep.className = "button small";
  keep.textContent = "Keep this version";
  keep.addEventListener("click", onKeep);
  figure.append(caption, text, keep);
  return figure;
}

// Two devices hold different texts: show both, keep the one the writer picks.
function choose(form, state, other) {
  form.querySelector(".draft-choice")?.remove();
  state.choosing = true;
  state.version = other.version;  // whichever is kept replaces the server's
  const mine = fields(form);
  const panel = document.createElement("div");
  panel.className = "draft-choice";
  panel.setAttribute("role", "group");
  panel.setAttribute("aria-label", "Two versions of this draft");
  const intro = document.createElement("p");
  intro.setAttribute("role", "status");
  intro.textContent = "This draft was changed on another device too. Which version do you keep?";
  const keep = (draft) => () => {
    panel.remove();
    state.choosing = false;
    fill(form, draft);
    changed(form, state);
    save(form, state);
    form.elements.body.focus();
  };
  const when = new Date(other.updated_at).toLocaleString();
  panel.append(
    intro,
    version("This device", mine, keep(mine)),
    version(`Another device, saved ${when}`, other, keep(other)),
  );
  form.prepend(panel);
}

async function attach(form) {
  if (states.has(form)) return;
  const state = {
    place: form.dataset.draft, sync: form.hasAttribute("data-draft-sync"),
    version: 0, dirty: false, timer: 0, last: 0, saving: false, sent: false, choosing: false,
  };
  states.set(form, state);
  const local = readLocal(state.place);
  let server;  // undefined: not asked or not reachable; null: the server has none
  if (state.sync) {
    try {
      server = (await api("GET", url(state.place))).draft;
    } catch {
      server = undefined;  // offline: this device's copy is all there is for now
    }
  }
  if (server === undefined) {
    if (local) {
      state.version = local.version || 0;
      fill(form, local);
    }
  } else if (server === null) {
    // A copy the server once had and no longer has was sent or discarded elsewhere.
    if (local && local.version) forgetLocal(state.place);
    else if (local) {
      fill(form, local);
      changed(form, state);
    }
  } else if (!local || same(local, server)) {
    state.version = server.version;
    fill(form, server);
    remember(form, state);
  } else if (local.version === server.version) {  // this device went on from the server's copy
    state.version = server.version;
    fill(form, local);
    changed(form, state);
  } else {
    fill(form, local);
    choose(form, state, server);
  }
}

function stateOf(target) {
  const form = target instanceof Element ? target.closest("form[data-draft]") : null;
  const state = form && states.get(form);
  return state ? [form, state] : [null, null];
}

export function startDrafts() {
  document.querySelectorAll("form[data-draft]").forEach(attach);
  // Reply forms the thread page places under an article arrive later.
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (!(node instanceof Element)) continue;
        if (node.matches("form[data-draft]")) attach(node);
        node.querySelectorAll("form[data-draft]").forEach(attach);
      }
    }
  }).observe(document.body, { childList: true, subtree: true });
  document.addEventListener("input", (event) => {
    const [form, state] = stateOf(event.target);
    if (form) changed(form, state);
  });
  document.addEventListener("focusout", (event) => {
    const [form, state] = stateOf(event.target);
    if (form && !form.contains(event.relatedTarget)) save(form, state);
  });
  document.addEventListener("submit", (event) => {
    const [form, state] = stateOf(event.target);
    if (!form) return;
    clearTimeout(state.timer);
    state.timer = 0;
    state.sent = true;
    forgetLocal(state.place);
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", startDrafts);
} else {
  startDrafts();
}
