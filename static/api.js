// Talking to the server: the JSON API for actions, server-rendered HTML for
// anything shown. Nothing from users is ever assembled into markup here.

export class ApiError extends Error {
  constructor(status, code, message, detail = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;  // the whole error object: what else the server said (a 409's stored draft)
  }
}

/** Call the JSON API (Content-Type application/json, which a cross-site form cannot send). */
export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "Accept": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code || "http_error",
      error.message || `the server answered ${response.status}`, error);
  }
  return data;
}

/** Fetch a server-rendered fragment and parse it into inert nodes (scripts never run). */
export async function fragment(path) {
  const response = await fetch(path, { credentials: "same-origin", headers: { "Accept": "text/html" } });
  if (!response.ok) return null;
  const template = document.createElement("template");
  template.innerHTML = await response.text();
  return template.content;
}

/** Fetch a whole page of this site as a detached document. */
export async function page(path) {
  const response = await fetch(path, { credentials: "same-origin", headers: { "Accept": "text/html" } });
  if (!response.ok) return null;
  return new DOMParser().parseFromString(await response.text(), "text/html");
}

/** Show `message` at the top of `form`, in one alert box reused across tries. */
export function showError(form, message) {
  let box = form.querySelector(".form-error");
  if (!box) {
    box = document.createElement("p");
    box.className = "form-error";
    box.setAttribute("role", "alert");
    form.prepend(box);
  }
  box.textContent = message;
}
