// Completing an @mention while writing: after "@" and a letter or two, the
// members whose username starts so are offered under the text (GET
// /api/people?prefix=); arrows move, Enter or Tab puts "@name " in, Esc
// closes the list. The text box points at the offered name with
// aria-activedescendant, so a screen reader says it. Without this script,
// names are typed in full and work the same.
import { api } from "./api.js";
import { element } from "./dom.js";

const TYPED = /(?:^|[^\w@.])@([a-z0-9_.-]{1,32})$/i;
const MAX = 8;  // the server's PEOPLE_MAX: a shorter answer holds every match
const found = new Map();  // prefix: people, for this page
let box = null, list = null, note = null, people = [], active = -1, token = null, timer = null, off = false;

/** People whose name starts with `prefix`: from an earlier, complete answer when there is one. */
async function lookUp(prefix) {
  for (let n = prefix.length; n > 0; n--) {
    const known = found.get(prefix.slice(0, n));
    if (known && (n === prefix.length || known.length < MAX)) return known.filter((p) => p.username.startsWith(prefix));
  }
  const { people: answer } = await api("GET", `/api/people?prefix=${encodeURIComponent(prefix)}`);
  found.set(prefix, answer);
  return answer;
}

function close() {
  if (list) list.hidden = true;
  if (box) box.removeAttribute("aria-activedescendant");
  people = [];
  active = -1;
  token = null;
}

function choose(index) {
  active = index;
  list.querySelectorAll("[role=option]").forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
  box.setAttribute("aria-activedescendant", `mention-${index}`);
}

function show(textarea, match) {
  if (!list) {
    list = element("ul", { role: "listbox", id: "mentions", class: "mentions", "aria-label": "People to mention" });
    note = element("p", { class: "vh", "aria-live": "polite", id: "mentions-note" });
    list.addEventListener("mousedown", (event) => {
      const option = event.target instanceof Element && event.target.closest("[role=option]");
      if (!option) return;
      event.preventDefault();  // the text box keeps the focus
      insert(Number(option.id.slice("mention-".length)));
    });
  }
  box = textarea;
  textarea.after(list, note);
  textarea.setAttribute("aria-autocomplete", "list");
  textarea.setAttribute("aria-controls", "mentions");
  list.replaceChildren(...people.map((p, i) => {
    const option = element("li", { role: "option", id: `mention-${i}`, "aria-selected": "false" });
    option.append(element("span", { class: "mname" }, `@${p.username}`), " ", element("span", { class: "mdisplay" }, p.display_name));
    return option;
  }));
  list.hidden = false;
  token = match;
  choose(0);
  note.textContent = `${people.length} ${people.length === 1 ? "person" : "people"} to mention: arrows to choose, Enter to put in.`;
}

function insert(index) {
  const person = people[index];
  if (!person || !box || !token) return;
  const { start, end } = token;
  const text = box.value;
  const name = `@${person.username} `;
  box.value = text.slice(0, start) + name + text.slice(end).replace(/^\s/, "");
  box.setSelectionRange(start + name.length, start + name.length);
  close();
  box.dispatchEvent(new Event("input", { bubbles: true }));  // the draft keeps it
}

async function onInput(textarea) {
  const caret = textarea.selectionStart;
  const before = textarea.value.slice(0, caret);
  const match = textarea.selectionEnd === caret && TYPED.exec(before);
  if (!match) return close();
  const prefix = match[1].toLowerCase();
  const start = caret - match[1].length - 1;
  clearTimeout(timer);
  timer = setTimeout(async () => {
    try {
      const answer = await lookUp(prefix);
      if (textarea.value.slice(0, textarea.selectionStart) !== before) return;  // typed on meanwhile
      people = answer.slice(0, MAX);
      if (!people.length) return close();
      show(textarea, { start, end: caret });
    } catch (error) {
      if (error.status === 401 || error.status === 403) off = true;  // signed out: nothing to offer
      close();
    }
  }, 100);
}

const body = (target) => target instanceof HTMLTextAreaElement && target.name === "body" && target.closest("form[data-draft]");

document.addEventListener("input", (event) => {
  if (!off && body(event.target) && event.isTrusted !== false) onInput(event.target);
});
document.addEventListener("keydown", (event) => {
  if (!token || event.target !== box || list.hidden) return;
  const keys = { ArrowDown: 1, ArrowUp: -1 };
  if (event.key in keys) {
    choose((active + keys[event.key] + people.length) % people.length);
  } else if ((event.key === "Enter" || event.key === "Tab") && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
    insert(active);
  } else if (event.key === "Escape") {
    close();
  } else {
    return;
  }
  event.preventDefault();
  event.stopPropagation();  // Esc closes the list, not the reply form
}, true);
document.addEventListener("focusout", (event) => {
  if (event.target === box) close();
});
