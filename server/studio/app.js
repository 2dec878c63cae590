// The studio's entry: hash routes (#/runs, #/runs/NAME, #/playground, #/compare, #/models, #/jobs), each drawn by
// one view module into <main>; a view returns a function that stops its polling when the page moves on.

import { errorBox, fill, h } from "./dom.js";
import { compareView } from "./compare.js";
import { jobsView } from "./jobs.js";
import { modelsView } from "./models.js";
import { playgroundView } from "./playground.js";
import { runView } from "./run.js";
import { runsView } from "./runs.js";

const ROUTES = [
  [/^runs\/(.+)$/, "runs", (match, query) => runView(decodeURIComponent(match[1]), query)],
  [/^(runs)?$/, "runs", (match, query) => runsView(query)],
  [/^playground$/, "playground", (match, query) => playgroundView(query)],
  [/^compare$/, "compare", (match, query) => compareView(query)],
  [/^models$/, "models", (match, query) => modelsView(query)],
  [/^jobs$/, "jobs", (match, query) => jobsView(query)],
];

const view = document.getElementById("view");
let stop = null;

async function route() {
  if (stop) stop();
  stop = null;
  const [path, search] = location.hash.replace(/^#\/?/, "").split("?");
  const query = new URLSearchParams(search ?? "");
  for (const [pattern, nav, make] of ROUTES) {
    const match = pattern.exec(path);
    if (!match) continue;
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const controller = new AbortController();
    stop = () => controller.abort();
    try {
      await make(match, query)(view, controller.signal);
    } catch (error) {
      if (!controller.signal.aborted) view.append(errorBox(error));
    }
    return;
  }
  fill(view, h("h1", { tabindex: "-1" }, "Not found"), h("p", {}, h("a", { href: "#/runs" }, "Back to the runs")));
}

// Moves keyboard focus to the new view's heading, so a screen reader announces where the user landed.
function focusHeading() {
  const heading = view.querySelector("h1");
  if (heading) heading.focus({ preventScroll: true });
}

async function showAccess() {
  const access = document.getElementById("access");
  try {
    const info = await (await fetch("/studio/info")).json();
    access.textContent = info.loopback_only
      ? "Served to this machine only: no API keys."
      : "API keys guard this server.";
    access.dataset.loopback = String(info.loopback_only);
    document.documentElement.dataset.version = info.version;
  } catch {
    access.textContent = "";
  }
}

window.addEventListener("hashchange", async () => {
  await route();
  focusHeading();
});
showAccess();
route();
