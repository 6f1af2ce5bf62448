// Times come in UTC, the same page for every reader (so caches stay shared);
// here they are shown in the reader's own time zone, UTC kept in the tooltip.
// Only the server's "2026-11-21 10:00" form is changed; live inserts too.

const WHEN = /^\d{4}-\d\d-\d\d \d\d:\d\d$/;
const pad = (n) => String(n).padStart(2, "0");

function localise(time) {
  const text = time.textContent.trim();
  const at = new Date(time.dateTime);
  if (!WHEN.test(text) || Number.isNaN(at.getTime())) return;
  if (!time.title) time.title = `${text} UTC`;
  time.textContent = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}`
    + ` ${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

function within(node) {
  if (!(node instanceof Element)) return;
  if (node.matches("time[datetime]")) localise(node);
  node.querySelectorAll("time[datetime]").forEach(localise);
}

function start() {
  within(document.body);
  const zone = document.getElementById("zone");
  if (zone) zone.textContent = "Times are in your time zone (UTC on hover).";
  new MutationObserver((changes) => changes.forEach((c) => c.addedNodes.forEach(within)))
    .observe(document.body, { childList: true, subtree: true });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
