// #/models: what each backend serves (the embedded packages, each Ollama upstream and its state), each model's
// Modelfile settings, and the form that publishes a package to the Hub and the Ollama registry as a job.

import { api } from "./api.js";
import { badge, errorBox, facts, fill, h, repeat, table } from "./dom.js";
import { publishForm } from "./jobs.js";

function upstreamRows(health) {
  const rows = [];
  for (const [name, state] of Object.entries(health.backends ?? {})) {
    if (state.upstreams) {
      for (const upstream of state.upstreams) {
        rows.push([name, h("code", {}, upstream.url), badge(upstream.healthy ? "up" : "down"),
          String(upstream.models), String(upstream.in_flight), upstream.error ?? "–"]);
      }
    } else {
      const loaded = state.models ?? [];
      const busy = loaded.reduce((sum, m) => sum + (m.in_flight ?? 0), 0);
      rows.push([name, "in this process", badge(state.ok ? "up" : "down"), String(state.servable ?? loaded.length),
        String(busy), `loaded now: ${loaded.map((m) => m.model).join(", ") || "none"}`]);
    }
  }
  return rows;
}

function modelRow(id, info) {
  const t = info?.tunesmith;
  const chat = h("a", { href: `#/playground?model=${encodeURIComponent(id)}` }, "Chat");
  return [h("code", {}, id), t?.backend ?? "–", t?.run ? h("a", { href: `#/runs/${encodeURIComponent(t.run)}` }, t.run) : "–",
    t?.file ?? "–", (t?.capabilities ?? []).join(", ") || "–", chat];
}

export function modelsView() {
  return async (root, signal) => {
    const backends = h("div");
    const served = h("div");
    const problem = h("div");
    const packages = [];
    try {
      for (const run of (await api("/v1/runs", { signal })).data) {
        const detail = await api(`/v1/runs/${encodeURIComponent(run.id)}`, { signal });
        for (const pkg of [detail.package, detail.base_package]) if (pkg) packages.push(pkg.folder);
      }
    } catch {
      // A server without the runs routes: the package folder is typed by hand.
    }
    fill(root,
      h("h1", { tabindex: "-1" }, "Models and releases"),
      problem,
      h("section", { "aria-labelledby": "backends-h" }, h("h2", { id: "backends-h" }, "Backends"), backends),
      h("section", { "aria-labelledby": "served-h" }, h("h2", { id: "served-h" }, "Served models"), served),
      h("section", { "aria-labelledby": "publish-h" }, h("h2", { id: "publish-h" }, "Publish a package"),
        h("p", {}, "To the Hugging Face Hub and the Ollama registry, with the server's own logins; the job's progress shows under ",
          h("a", { href: "#/jobs" }, "Jobs"), "."),
        publishForm(packages[0] ?? "", packages)));

    const infos = new Map();
    await repeat(5000, signal, async () => {
      const [health, models] = await Promise.all([
        fetch("/health").then((r) => r.json()),
        api("/v1/models", { signal }),
      ]);
      problem.replaceChildren();
      fill(backends, facts([["state", badge(health.status === "ok" ? "up" : "down")]]),
        table(null, ["Backend", "Where", "State", "Models", "In flight", "Notes"], upstreamRows(health)));
      const ids = models.data.map((m) => m.id);
      await Promise.all(ids.filter((id) => !infos.has(id)).slice(0, 50).map(async (id) => {
        try {
          infos.set(id, await api(`/v1/models/${encodeURIComponent(id)}`, { signal }));
        } catch {
          infos.set(id, null);
        }
      }));
      fill(served, ids.length
        ? table(`${ids.length} model${ids.length === 1 ? "" : "s"}`, ["Model", "Backend", "Run", "File", "Capabilities", ""],
          ids.map((id) => modelRow(id, infos.get(id))), { class: "models" })
        : h("p", { class: "empty" }, "No model is served."));
    }, (error) => fill(problem, errorBox(error, "cannot read the models: ")));
  };
}
