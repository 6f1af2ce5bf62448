// Proposals: endorse and propose through the JSON API, then show the page again.
import { api, showError } from "./api.js";

export function startProposals() {
  document.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest('[data-action="endorse"]') : null;
    if (!button) return;
    event.preventDefault();  // without scripts its form posts instead
    button.disabled = true;
    try {
      await api("POST", `/api/proposals/${button.dataset.id}/endorse`, {});
      location.reload();
    } catch (error) {
      alert(error.message);
      button.disabled = false;
    }
  });
  const form = document.getElementById("propose");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    try {
      await api("POST", "/api/proposals", data);
      location.reload();
    } catch (error) {
      showError(form, error.message);
    }
  });
}

if (document.querySelector(".proposals, #propose")) startProposals();
