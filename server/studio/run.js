// #/runs/NAME: one run's status, live learning curve (metrics polled with ?after=next, no reload), data report,
// train report and package (quality table, Modelfile, model card, files), with buttons to package and publish it.

import { api } from "./api.js";
import { bytes, badge, errorBox, facts, fill, h, number, repeat, table } from "./dom.js";
import { describe, drawCurve } from "./chart.js";
import { packageButton, publishForm } from "./jobs.js";

const ACTIVE = new Set(["preparing", "training", "packaging", "publishing"]);

function scalars(object) {
  return Object.entries(object ?? {}).filter(([, value]) => value === null || typeof value !== "object")
    .map(([key, value]) => [key.replaceAll("_", " "), typeof value === "number" ? number(value) : String(value ?? "–")]);
}

function dataReport(report) {
  if (!report) return h("p", { class: "empty" }, "No data report yet (", h("code", {}, "tunesmith prepare"), " writes it).");
  const dropped = Object.entries(report.dropped ?? {});
  const lengths = Object.entries(report.length_tokens ?? {}).filter(([, p]) => p && Object.keys(p).length);
  return h("div", {},
    facts([
      ["kind", report.kind],
      ["rows in", number(report.rows_in)],
      ["training rows", number(report.rows_out?.train)],
      ["validation rows", number(report.rows_out?.val)],
      ["training tokens", number(report.tokens?.train)],
      ["validation tokens", number(report.tokens?.val)],
    ]),
    dropped.length
      ? table("Rows dropped, and why", ["Reason", "Rows"], dropped.map(([why, count]) => [why, number(count)]))
      : h("p", {}, "No rows dropped."),
    lengths.length
      ? table("Token lengths", ["Split", "min", "p5", "p50", "p95", "max"],
        lengths.map(([split, p]) => [split, ...["min", "p5", "p50", "p95", "max"].map((k) => number(p[k]))]))
      : null,
    warnings([...(report.warnings ?? []), ...(report.plan?.warnings ?? [])]));
}

function warnings(list) {
  if (!list.length) return null;
  return h("div", { class: "warnings" }, h("h4", {}, "Warnings"), h("ul", {}, list.map((text) => h("li", {}, text))));
}

function trainReport(report) {
  if (!report) return h("p", { class: "empty" }, "No train report yet (written when training ends).");
  return facts(scalars(report));
}

function qualityTable(quality) {
  if (!quality) return h("p", { class: "empty" }, "No quality report in this package.");
  const checks = quality.checks ?? [];
  const verdict = quality.passed === undefined ? null
    : h("p", { class: "verdict" }, badge(quality.passed ? "passed" : "failed"), quality.passed ? " every check passed" : " some checks failed");
  return h("div", {}, verdict,
    table("Quality checks", ["Check", "Value", "Threshold", "Result", "What it means"],
      checks.map((c) => [c.name, number(c.value), `${c.comparison ?? ""} ${number(c.threshold)}`.trim(),
        h("span", { class: "result", dataset: { passed: String(c.passed) } }, c.passed ? "✓ pass" : "✗ FAIL"),
        c.explanation ?? ""]), { class: "quality" }),
    quality.perplexity && Object.keys(quality.perplexity).length
      ? table("Perplexity", ["File", "Perplexity"], Object.entries(quality.perplexity).map(([k, v]) => [k, number(v)]))
      : null);
}

function packageSection(title, pkg) {
  if (!pkg) return h("section", { "aria-labelledby": `${title}-h` }, h("h2", { id: `${title}-h` }, title), h("p", { class: "empty" }, "Not packaged yet."));
  const id = title.replaceAll(" ", "-").toLowerCase();
  return h("section", { "aria-labelledby": `${id}-h`, class: "package" },
    h("h2", { id: `${id}-h` }, title),
    facts([["folder", h("code", {}, pkg.folder)], ["served as", pkg.model ?? "not served"]]),
    h("h3", {}, "Quality"), qualityTable(pkg.quality),
    h("h3", {}, "Files"),
    table(null, ["File", "Size"], (pkg.files ?? []).map((f) => [h("code", {}, f.name), bytes(f.bytes)]), { class: "files" }),
    h("details", { open: true }, h("summary", {}, "Modelfile"), h("pre", { tabindex: "0", class: "modelfile" }, pkg.modelfile ?? "")),
    pkg.card ? h("details", {}, h("summary", {}, "Model card (README.md)"), h("pre", { tabindex: "0" }, pkg.card)) : null,
    h("details", { class: "panel" }, h("summary", {}, "Publish this package"), publishForm(pkg.folder)));
}

function header(run) {
  const models = run.models ?? [];
  return h("div", {},
    h("p", { class: "status-line" }, badge(run.status),
      run.step !== null && run.step !== undefined ? ` step ${run.step}${run.max_steps ? ` of ${run.max_steps}` : ""}` : "",
      run.verdict ? ` · verdict: ${run.verdict}` : "", run.base ? ` · base: ${run.base}` : ""),
    run.error ? h("p", { class: "error", role: "alert" }, h("strong", {}, "Failed: "), run.error) : null,
    h("p", { class: "actions" },
      models.length ? h("a", { class: "button", href: `#/playground?model=${encodeURIComponent(models[0])}` }, "Chat with it") : null,
      models.length > 1 ? h("a", { class: "button", href: `#/compare?models=${models.map(encodeURIComponent).join(",")}` }, "Compare its models") : null,
      run.status === "done" || run.status === "trained" ? packageButton(run.id) : null));
}

export function runView(name) {
  return async (root, signal) => {
    const head = h("div");
    const curve = h("figure", { class: "chart" });
    const caption = h("figcaption", { "aria-live": "polite" });
    const steps = h("div");
    const sections = h("div");
    const problem = h("div");
    fill(root,
      h("p", { class: "crumbs" }, h("a", { href: "#/runs" }, "Runs"), " / ", name),
      h("h1", { tabindex: "-1" }, `Run ${name}`), problem, head,
      h("section", { "aria-labelledby": "curve-h" }, h("h2", { id: "curve-h" }, "Learning curve"), curve,
        h("details", {}, h("summary", {}, "Steps as a table"), steps)),
      sections);
    curve.append(drawCurve([]), caption);

    let run = null;
    let shown = "";
    const refresh = async () => {
      run = await api(`/v1/runs/${encodeURIComponent(name)}`, { signal });
      problem.replaceChildren();
      fill(head, header(run));
      const state = JSON.stringify([run.data_report, run.train_report, run.package, run.base_package]);
      if (state === shown) return;  // redrawn only on change, so open <details> and focus stay where they are
      shown = state;
      fill(sections,
        h("section", { "aria-labelledby": "data-h" }, h("h2", { id: "data-h" }, "Data report"), dataReport(run.data_report)),
        h("section", { "aria-labelledby": "train-h" }, h("h2", { id: "train-h" }, "Train report"), trainReport(run.train_report)),
        packageSection("Package", run.package),
        run.base_package ? packageSection("Base package", run.base_package) : null);
    };
    await refresh();

    const rows = [];
    let next = 0;
    const drawn = { count: -1 };
    const pollMetrics = async () => {
      const page = await api(`/v1/runs/${encodeURIComponent(name)}/metrics?after=${next}`, { signal });
      rows.push(...page.data);
      next = page.next;
      if (rows.length === drawn.count) return;
      drawn.count = rows.length;
      curve.replaceChildren(drawCurve(rows, `Learning curve of ${name}`), caption);
      caption.textContent = describe(rows);
      const shownRows = rows.slice(-200);
      fill(steps, table(rows.length > 200 ? `last 200 of ${rows.length} rows` : null, ["Step", "Training loss", "Eval loss", "Learning rate"],
        shownRows.map((r) => [number(r.step), number(r.loss), number(r.eval_loss), number(r.lr, 3)])));
    };
    const report = (error) => fill(problem, errorBox(error));
    repeat(2000, signal, pollMetrics, report);
    // The run's status and reports change slower; checked more often while it works.
    let tick = 0;
    repeat(2000, signal, async () => {
      tick += 1;
      if (ACTIVE.has(run?.status) || tick % 3 === 0) await refresh();
    }, report);
  };
}
