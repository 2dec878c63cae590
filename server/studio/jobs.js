// #/jobs: the server's jobs (runs, packages, publishes) with their steps as progress bars, notes, results and the
// error a failed job reports (the CLI's words); plus the forms that start them. Jobs live in the server, so they
// survive a page reload.

import { api } from "./api.js";
import { badge, errorBox, fill, h, number, repeat, when } from "./dom.js";

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

async function start(path, body, form) {
  const problem = form.querySelector(".form-error");
  problem.replaceChildren();
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const job = await api(path, { method: "POST", body });
    location.hash = `#/jobs?job=${encodeURIComponent(job.id)}`;
  } catch (error) {
    fill(problem, errorBox(error));
  } finally {
    button.disabled = false;
  }
}

let counter = 0;
function field(label, input, help) {
  counter += 1;
  const id = `field-${counter}`;
  input.id = id;
  if (help) input.setAttribute("aria-describedby", `${id}-help`);
  return h("div", { class: "field" }, h("label", { for: id }, label), input,
    help ? h("small", { id: `${id}-help` }, help) : null);
}

export function startRunForm(config = "") {
  const path = h("input", { name: "config", required: true, value: config, placeholder: "examples/faq/project.yaml", spellcheck: "false" });
  const overrides = h("textarea", { name: "overrides", rows: 3, spellcheck: "false", placeholder: "train.max_steps=20" });
  const form = h("form", { class: "start-run" },
    field("Project file", path, "A YAML project file the server can read (a path on the server's machine)."),
    field("Overrides", overrides, "One key=value a line, as `tunesmith run --set` takes them."),
    h("button", { type: "submit" }, "Start run"),
    h("div", { class: "form-error" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const lines = overrides.value.split("\n").map((l) => l.trim()).filter(Boolean);
    start("/v1/runs", { config: path.value.trim(), overrides: lines }, form);
  });
  return form;
}

export function packageButton(run) {
  const form = h("form", { class: "inline" }, h("button", { type: "submit" }, "Package this run"), h("div", { class: "form-error" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    start(`/v1/runs/${encodeURIComponent(run)}/package`, undefined, form);
  });
  return form;
}

export function publishForm(folder = "", packages = []) {
  const pkg = h("input", { name: "package", required: true, value: folder, spellcheck: "false", list: "package-folders" });
  const hf = h("input", { name: "hf", placeholder: "alice/demo-GGUF", spellcheck: "false" });
  const ollama = h("input", { name: "ollama", placeholder: "alice/demo:latest", spellcheck: "false" });
  counter += 1;
  const isPrivate = h("input", { type: "checkbox", name: "private", checked: true, id: `field-${counter}` });
  const form = h("form", { class: "publish" },
    field("Package folder", pkg, "A package this server serves."),
    h("datalist", { id: "package-folders" }, packages.map((p) => h("option", { value: p }))),
    field("Hugging Face repo", hf, "USER/REPO; leave empty to skip the Hub."),
    field("Ollama name", ollama, "USER/NAME[:TAG]; leave empty to skip the Ollama registry."),
    h("div", { class: "field check" }, isPrivate, h("label", { for: isPrivate.id }, "Private Hub repo")),
    h("button", { type: "submit" }, "Publish"),
    h("div", { class: "form-error" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { package: pkg.value.trim(), private: isPrivate.checked };
    if (hf.value.trim()) body.hf = hf.value.trim();
    if (ollama.value.trim()) body.ollama = ollama.value.trim();
    start("/v1/publish", body, form);
  });
  return form;
}

function stepItem(step) {
  const known = typeof step.total === "number" && step.total > 0;
  // A step of unknown size shows a moving bar while it runs and a full one once done.
  const attrs = known ? { max: step.total, value: Math.min(step.completed, step.total) }
    : step.status === "done" ? { max: 1, value: 1 } : step.status === "failed" ? { max: 1, value: 0 } : {};
  const bar = h("progress", attrs);
  bar.setAttribute("aria-label", step.name);
  const amount = known ? ` · ${number(step.completed)} of ${number(step.total)}` : step.completed ? ` · ${number(step.completed)}` : "";
  return h("li", { class: "step", dataset: { status: step.status } },
    h("span", { class: "step-name" }, step.name), bar, h("span", { class: "step-state" }, `${step.status}${amount}`));
}

function link(value) {
  return /^https?:\/\//.test(value) ? h("a", { href: value, rel: "noreferrer" }, value) : value;
}

function jobBody(job) {
  const results = Object.entries(job.results ?? {});
  return [
    h("p", { class: "job-status" }, badge(job.status), ` · started ${when(job.created_at)}`,
      job.finished_at ? ` · finished ${when(job.finished_at)}` : ""),
    job.steps?.length ? h("ol", { class: "steps" }, job.steps.map(stepItem)) : null,
    job.notes?.length ? h("ul", { class: "notes" }, job.notes.map((n) => h("li", {}, n))) : null,
    results.length ? h("ul", { class: "results" }, results.map(([k, v]) => h("li", {}, `${k}: `, link(v)))) : null,
    job.error ? h("div", { class: "error", role: "alert" }, h("strong", {}, "Failed: "), h("span", { class: "job-error" }, job.error.message)) : null,
  ];
}

function jobTitle(job) {
  const kind = job.kind ?? "job";
  const subject = job.run ?? job.package ?? "";
  const targets = Object.values(job.targets ?? {}).join(", ");
  return `${kind} ${subject}${targets ? ` → ${targets}` : ""}`;
}

function jobCard(job, problem) {
  const body = h("div", { class: "job-body", "aria-live": "polite" });
  const cancel = h("button", { type: "button", class: "cancel" }, "Cancel");
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await api(`/v1/jobs/${encodeURIComponent(job.id)}/cancel`, { method: "POST" });
    } catch (error) {
      fill(problem, errorBox(error, "cannot cancel: "));
    }
  });
  const card = h("article", { class: "job", dataset: { job: job.id }, "aria-labelledby": `job-${job.id}` },
    h("header", {}, h("h2", { id: `job-${job.id}` }, jobTitle(job)), cancel), body);
  card.update = (next) => {
    const state = JSON.stringify(next);
    if (state === card.state) return;
    card.state = state;
    card.dataset.status = next.status;
    cancel.hidden = FINISHED.has(next.status);
    fill(body, jobBody(next));
  };
  card.update(job);
  return card;
}

export function jobsView(query) {
  return async (root, signal) => {
    const list = h("div", { class: "jobs" });
    const problem = h("div");
    fill(root,
      h("h1", { tabindex: "-1" }, "Jobs"),
      h("p", { class: "lead" }, "Runs, packages and publishes this server is doing or did, newest first."),
      problem, list,
      h("details", { class: "panel", open: !query.get("job") }, h("summary", {}, "Start a run"), startRunForm()),
      h("details", { class: "panel" }, h("summary", {}, "Publish a package"), publishForm()));
    const cards = new Map();
    await repeat(1000, signal, async () => {
      const jobs = (await api("/v1/jobs", { signal })).data;
      problem.replaceChildren();
      if (!jobs.length) {
        fill(list, h("p", { class: "empty" }, "No jobs yet."));
        cards.clear();
        return;
      }
      if (!cards.size) list.replaceChildren();
      jobs.sort((a, b) => b.created_at - a.created_at);
      jobs.forEach((job, index) => {
        let card = cards.get(job.id);
        if (card) card.update(job);
        else cards.set(job.id, (card = jobCard(job, problem)));
        if (list.children[index] !== card) list.insertBefore(card, list.children[index] ?? null);
      });
    }, (error) => fill(problem, errorBox(error, "cannot list the jobs: ")));
  };
}
