// #/runs: every run folder the server watches (tunesmith serve --runs DIR), newest first, refreshed while open.

import { api } from "./api.js";
import { badge, errorBox, fill, h, number, repeat, table, when } from "./dom.js";
import { startRunForm } from "./jobs.js";

function steps(run) {
  if (run.step === null || run.step === undefined) return "–";
  return run.max_steps ? `${number(run.step)} / ${number(run.max_steps)}` : number(run.step);
}

function row(run) {
  const link = h("a", { href: `#/runs/${encodeURIComponent(run.id)}` }, run.id);
  return [
    link,
    badge(run.status),
    steps(run),
    number(run.train_loss),
    number(run.eval_loss),
    run.verdict ?? "–",
    when(run.updated_at),
    run.models?.length ? run.models.join(", ") : "–",
  ];
}

export function runsView() {
  return async (root, signal) => {
    const body = h("div", { id: "runs-table", "aria-live": "polite", "aria-busy": "true" }, h("p", {}, "Loading runs…"));
    const problem = h("div");
    fill(root,
      h("h1", { tabindex: "-1" }, "Runs"),
      h("p", { class: "lead" }, "Every run folder this server watches (", h("code", {}, "tunesmith serve --runs DIR"),
        "), newest first. A run's page shows its learning curve, data and train reports, and its package."),
      problem,
      body,
      h("details", { class: "panel" }, h("summary", {}, "Start a run"), startRunForm()));
    await repeat(3000, signal, async () => {
      const runs = (await api("/v1/runs", { signal })).data;
      problem.replaceChildren();
      body.setAttribute("aria-busy", "false");
      if (!runs.length) {
        fill(body, h("p", { class: "empty" }, "No runs yet: the runs folder holds no run. Start one below, or run ",
          h("code", {}, "tunesmith run CONFIG"), " in the folder the server watches."));
        return;
      }
      fill(body, table(`${runs.length} run${runs.length === 1 ? "" : "s"}`,
        ["Run", "Status", "Step", "Train loss", "Eval loss", "Verdict", "Updated", "Models"], runs.map(row),
        { class: "runs" }));
    }, (error) => fill(problem, errorBox(error, "cannot list the runs: ")));
  };
}
