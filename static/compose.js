// Writing a reply, made easier: Ctrl/Cmd+Enter sends it, Preview shows it as
// the server's own renderer will, and a gentle note says when the quote has
// grown longer than what is written under it. The form works without this.
import { api, showError } from "./api.js";
import { element } from "./dom.js";

const QUOTED = /^[ \t]{0,3}>/;

/** How many characters of `text` are quoted and how many are the writer's own
 *  (an attribution line, "… wrote:" just above a quote, counts as neither). */
export function weigh(text) {
  let quoted = 0;
  let own = 0;
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (QUOTED.test(line)) quoted += line.replace(/^[\s>]+/, "").length;
    else if (!(/wrote:\s*$/.test(line) && QUOTED.test(lines[i + 1] || ""))) own += line.trim().length;
  });
  return { quoted, own };
}

export function enhanceReply(form) {
  if (form.dataset.compose) return;
  form.dataset.compose = "on";
  const text = form.elements.body;
  const buttons = form.querySelector(".buttons");
  const note = element("p", { class: "overquote", "aria-live": "polite" });
  const shown = element("div", { class: "preview", "aria-live": "polite" });
  const preview = element("button", { type: "button", class: "linkish", "data-action": "preview" }, "Preview");
  buttons.querySelector('button[type="submit"]').after(" ", preview);
  buttons.after(note, shown);

  const weighUp = () => {
    const { quoted, own } = weigh(text.value);
    note.textContent = own && quoted > own
      ? "The quoted text is longer than yours: readers follow more easily when only the lines you answer are kept."
      : "";
  };
  text.addEventListener("input", () => {
    weighUp();
    shown.replaceChildren();  // a preview of an earlier text would mislead
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  preview.addEventListener("click", async () => {
    try {
      const { html } = await api("POST", "/api/preview", { body: text.value });
      const template = document.createElement("template");
      template.innerHTML = html;  // the server's rendering: every user character escaped
      shown.replaceChildren(element("p", { class: "preview-title" }, "Preview"), template.content);
    } catch (error) {
      showError(form, error.message);
    }
  });
}

for (const form of document.querySelectorAll("form.reply-form")) enhanceReply(form);
