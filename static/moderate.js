// Moderation dialogs: split (with a server-rendered preview), merge, move,
// lock, archive, the reference shelf, and undo from the moderation log.
import { api, fragment } from "./api.js";

const ACTIONS = {
  split: {
    title: "Split from here", fields: ["subject", "group", "reason"], reasonRequired: true,
    intro: "This article and every reply below it become a new thread.",
    confirm: "Split",
    send: (ctx, f) => api("POST", `/api/threads/${ctx.thread}/split`, {
      article_id: Number(ctx.id), reason: f.reason, subject: f.subject || undefined,
      group: f.group || undefined }),
    done: ({ thread }) => [`Split off: “${thread.subject}” is now a thread of its own`
      + ` (${count(thread.article_count)}). `, `/t/${thread.id}`, "Read the new thread"],
  },
  merge: {
    title: "Merge into another thread", fields: ["pick", "target", "reason"], reasonRequired: true,
    intro: "This whole thread becomes a reply to the article you name, in its thread.",
    confirm: "Merge",
    send: async (ctx, f) => api("POST", `/api/threads/${ctx.thread}/merge`, {
      into_article_id: await articleId(f.target), reason: f.reason }),
    done: ({ thread }) => [`Merged: this thread is now part of “${thread.subject}”`
      + ` (${count(thread.article_count)}). `, `/t/${thread.id}`, "Read it there"],
  },
  move: {
    title: "Move to another group", fields: ["group", "reason"], reasonRequired: true,
    intro: "The thread and all its articles move; their Message-IDs stay the same.",
    confirm: "Move",
    send: (ctx, f) => api("POST", `/api/threads/${ctx.thread}/move`, { group: f.group, reason: f.reason }),
    done: ({ thread }) => [`Moved to ${thread.group}. `, `/g/${thread.group}`, `See ${thread.group}`],
  },
  lock: { title: "Lock this thread", intro: "Only moderators can post to a locked thread.", confirm: "Lock" },
  unlock: { title: "Unlock this thread", intro: "Everyone can reply again.", confirm: "Unlock" },
  archive: { title: "Archive this thread", intro: "Archived threads are read-only and listed in the group's archive.", confirm: "Archive" },
  unarchive: { title: "Unarchive this thread", intro: "The thread becomes open again.", confirm: "Unarchive" },
  reference: {
    title: "Put on the reference shelf", intro: "The thread is listed under “Read these first” on the group page.",
    confirm: "Add to shelf",
    send: (ctx, f) => api("POST", `/api/threads/${ctx.thread}/reference`, { on: true, reason: f.reason || undefined }),
  },
  unreference: {
    title: "Take off the reference shelf", intro: "The thread is no longer listed under “Read these first”.",
    confirm: "Take off",
    send: (ctx, f) => api("POST", `/api/threads/${ctx.thread}/reference`, { on: false, reason: f.reason || undefined }),
  },
  undo: {
    title: "Undo this entry", reasonRequired: true, confirm: "Undo",
    intro: "The change is reversed exactly, and the undo is logged too.",
    send: (ctx, f) => api("POST", `/api/modlog/${ctx.id}/undo`, { reason: f.reason }),
    after: () => location.reload(),
  },
};
for (const state of ["lock", "unlock", "archive", "unarchive"]) {
  ACTIONS[state].send = (ctx, f) => api("POST", `/api/threads/${ctx.thread}/${state}`, { reason: f.reason || undefined });
}

/** An article id from what a moderator typed: 123, #a123, a link ending in #a123, or a Message-ID. */
async function articleId(text) {
  const value = (text || "").trim();
  const anchor = value.match(/(?:^|#a)(\d+)$/);
  if (anchor) return Number(anchor[1]);
  const mid = value.match(/<[^<>\s]+@[^<>\s]+>/) || decodeURIComponent(value).match(/<[^<>\s]+@[^<>\s]+>/);
  if (mid) {
    const { article } = await api("GET", `/api/articles/${encodeURIComponent(mid[0])}`);
    return article.id;
  }
  throw new Error("name the article by its number, its #a link or its Message-ID");
}

let dialog, form, context, timer;

function count(n) {
  return `${n} article${n === 1 ? "" : "s"}`;
}

/** The confirmation, with a link to where the thread (or its part) went. */
function confirmDone(text, href, label) {
  let note = document.getElementById("mod-done");
  if (!note) {
    note = document.createElement("p");
    note.id = "mod-done";
    note.className = "done-note panel";
    note.setAttribute("role", "status");
  }
  const link = document.createElement("a");
  link.href = href;
  link.textContent = label;
  note.replaceChildren(text, link, ".");
  const head = document.getElementById("thread-head");
  if (head) head.after(note);
}

function field(name) {
  return form.elements[name];
}

function values() {
  return {
    subject: field("subject").value.trim(), group: field("group").value.trim(),
    target: field("target").value.trim(), reason: field("reason").value.trim(),
  };
}

async function preview() {
  const output = document.getElementById("mod-preview");
  const f = values();
  if (context.action === "merge" && f.target) {
    const query = new URLSearchParams({ target: f.target });
    const content = await fragment(`/t/${context.thread}/fragment/merge-preview?${query}`);
    if (content) output.replaceChildren(content);
    else output.textContent = "No article to merge under by that name: pick a thread above, or give an article’s number or Message-ID.";
    return;
  }
  if (context.action !== "split") {
    output.replaceChildren();
    return;
  }
  const query = new URLSearchParams({ article: context.id, subject: f.subject, group: f.group });
  const content = await fragment(`/t/${context.thread}/fragment/split-preview?${query}`);
  if (content) {
    output.replaceChildren(content);
  } else {
    output.textContent = f.group ? `There is no group named “${f.group}”.` : "";
  }
}

/** The threads a merge may go into, as the moderator types: picking one hangs this thread under its first article. */
async function findThreads() {
  const list = document.getElementById("mod-picks");
  const query = new URLSearchParams({ q: field("pick").value.trim(), limit: 8 });
  let threads = [];
  try {
    ({ threads } = await api("GET", `/api/threads?${query}`));
  } catch {
    threads = [];
  }
  list.replaceChildren(...threads.filter((t) => String(t.id) !== String(context.thread)).map((t) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "linkish";
    button.dataset.root = t.root_article_id;
    button.textContent = `${t.subject} — ${t.group}, ${count(t.article_count)}`;
    item.append(button);
    return item;
  }));
}

function open(target) {
  const action = target.dataset.action;
  const spec = ACTIONS[action];
  const thread = document.getElementById("thread");
  context = { action, id: target.dataset.id, thread: thread ? thread.dataset.threadId : null };
  document.getElementById("mod-title").textContent = spec.title;
  document.getElementById("mod-intro").textContent = spec.intro || "";
  document.getElementById("mod-confirm").textContent = spec.confirm || "Confirm";
  const shown = new Set([...(spec.fields || []), "reason"]);
  for (const box of form.querySelectorAll("[data-field]")) box.hidden = !shown.has(box.dataset.field);
  form.reset();
  field("reason").required = Boolean(spec.reasonRequired);
  field("reason").labels[0].textContent = spec.reasonRequired
    ? "Reason, shown in the public moderation log" : "Reason (optional), shown in the public moderation log";
  if (action === "split") {
    field("subject").value = (target.dataset.subject || "").replace(/^(\s*(re|aw|sv)\s*:\s*)+/i, "")
      .replace(/\s*[([]\s*was\s*:?.*[)\]]\s*$/i, "");
    field("group").value = thread ? thread.dataset.group : "";
  }
  const error = document.getElementById("mod-error");
  error.hidden = true;
  document.getElementById("mod-preview").replaceChildren();
  document.getElementById("mod-picks").replaceChildren();
  dialog.showModal();
  const first = form.querySelector("[data-field]:not([hidden]) input");
  if (first) first.focus();
  if (action === "merge") findThreads();
  else preview();
}

async function confirmAction(event) {
  event.preventDefault();
  const spec = ACTIONS[context.action];
  const f = values();
  const error = document.getElementById("mod-error");
  if (spec.reasonRequired && !f.reason) {
    error.textContent = "Give a reason: it is shown in the public moderation log.";
    error.hidden = false;
    field("reason").focus();
    return;
  }
  const button = document.getElementById("mod-confirm");
  button.disabled = true;
  try {
    const result = await spec.send(context, f);
    dialog.close();
    if (spec.after) {
      spec.after();
    } else {
      // The live event updates every open copy of the page; this one re-reads
      // itself at once too (its breadcrumb, head and tree), so the confirmation
      // below never sits beside a stale page, live connection or not.
      const thread = document.getElementById("thread");
      if (thread) {
        const request = {};
        thread.dispatchEvent(new CustomEvent("moot:refresh", { detail: request }));
        await request.done;
      }
      if (spec.done && result) confirmDone(...spec.done(result));
    }
  } catch (problem) {
    error.textContent = problem.message;
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

/** The dialog only this script uses comes from the server when the page loads. */
async function loadDialog() {
  if (!document.getElementById("mod-dialog")) {
    const content = await fragment("/fragment/mod-dialog");
    if (!content) return false;
    document.body.append(content);
  }
  return true;
}

export async function startModeration() {
  if (!(await loadDialog())) return;
  dialog = document.getElementById("mod-dialog");
  form = document.getElementById("mod-form");
  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target.closest("[data-action]") : null;
    if (!target) return;
    if (ACTIONS[target.dataset.action] && !target.closest("dialog")) {
      event.preventDefault();
      open(target);
    } else if (target.dataset.action === "close-dialog") {
      dialog.close();
    }
  });
  form.addEventListener("submit", confirmAction);
  form.addEventListener("input", (event) => {
    if (event.target.name === "reason") return;
    clearTimeout(timer);
    timer = setTimeout(event.target.name === "pick" ? findThreads : preview, 250);
  });
  document.getElementById("mod-picks").addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("button[data-root]") : null;
    if (!button) return;
    field("target").value = button.dataset.root;
    preview();
    field("reason").focus();
  });
}

startModeration();
