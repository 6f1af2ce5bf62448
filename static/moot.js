// Entry module: enhances whatever page it finds. Every page works without it.
import { startKeys } from "./keys.js";
import { startThread } from "./thread.js";
import { startModeration } from "./moderate.js";
import { startProposals } from "./proposals.js";
import { startGroup } from "./group.js";

function start() {
  startKeys();
  const thread = document.getElementById("thread");
  if (thread) startThread(thread);
  if (document.getElementById("mod-dialog")) startModeration();
  if (document.querySelector(".proposals, #propose")) startProposals();
  const group = document.getElementById("group");
  if (group) startGroup(group);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
