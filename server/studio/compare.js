// #/compare?models=a,b[,c]: the same conversation sent to two or three models side by side (the base, the tuned
// model, its other quantizations), each answer streamed into its own column, so one sees what the fine-tune changed.

import { fill, h } from "./dom.js";
import { labelled, messageView, modelSelect, modelSettings, samplingFields, toolFields, servedModels, streamTurn } from "./chat.js";

const NAMES = ["Model A", "Model B", "Model C"];

export function compareView(query) {
  return async (root, signal) => {
    const models = await servedModels(signal);
    const asked = (query.get("models") ?? "").split(",").filter((id) => models.includes(id));
    const picks = [asked[0] ?? models[0], asked[1] ?? models.find((id) => id !== (asked[0] ?? models[0])), asked[2] ?? ""];
    const selects = NAMES.map((name, i) => modelSelect(name, models, picks[i], { optional: i === 2 }));
    const sampling = samplingFields({ system: false });
    const system = h("textarea", { rows: 2, name: "system" });
    const tools = h("textarea", { rows: 4, spellcheck: "false", name: "tools" });
    const input = h("textarea", { rows: 3, name: "message", required: true });
    const send = h("button", { type: "submit" }, "Send to all");
    const clear = h("button", { type: "button" }, "New conversation");
    const columns = h("div", { class: "compare-columns" });
    const problem = h("div");
    const form = h("form", { class: "composer" }, labelled("Message", input, "Sent to every model; Ctrl+Enter sends."),
      h("div", { class: "row" }, send, clear));
    fill(root,
      h("h1", { tabindex: "-1" }, "Compare models"),
      h("p", { class: "lead" }, "One conversation, two or three models: each keeps its own answers. Settings left empty take each model's own Modelfile values."),
      h("fieldset", { class: "pickers" }, h("legend", {}, "Models"), selects.map((s) => s.element)),
      h("details", {}, h("summary", {}, "Settings and tools"), sampling.element,
        labelled("System prompt for every model", system, "Empty: each model's own SYSTEM from its Modelfile."),
        labelled("Tool definitions (JSON list, OpenAI format)", tools)),
      problem, columns, form);
    if (models.length < 2) {
      fill(problem, h("p", { class: "empty" }, "Comparing needs two served models; this server serves ", String(models.length), "."));
      return;
    }

    let lanes = [];
    let running = null;
    const layout = async () => {
      running?.abort();
      const ids = selects.map((s) => s.select.value).filter(Boolean);
      lanes = ids.map((id) => {
        const log = h("div", { class: "log", "aria-live": "polite", "aria-busy": "false", "aria-label": `Answers of ${id}` });
        const note = h("p", { class: "model-note" });
        return { id, log, note, messages: [], element: h("section", { class: "lane", dataset: { model: id } }, h("h2", {}, id), note, log) };
      });
      fill(columns, lanes.map((lane) => lane.element));
      columns.dataset.count = String(lanes.length);
      await Promise.all(lanes.map(async (lane) => {
        try {
          const settings = await modelSettings(lane.id, signal);
          if (settings) lane.note.textContent = settings.system ? `SYSTEM: ${settings.system}` : "No SYSTEM in its Modelfile.";
        } catch (error) {
          lane.note.textContent = `Settings unknown: ${error.message}`;
        }
      }));
    };
    for (const { select } of selects) select.addEventListener("change", layout);
    await layout();

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!input.value.trim() || send.disabled) return;
      problem.replaceChildren();
      const toolList = toolFields(tools, problem);
      if (toolList === null) return;
      const text = input.value;
      input.value = "";
      const extra = { ...sampling.read().body, ...toolList };
      const prefix = system.value.trim() ? [{ role: "system", content: system.value }] : [];
      running = new AbortController();
      send.disabled = true;
      await Promise.all(lanes.map(async (lane) => {
        const mine = messageView("user", "You");
        mine.content.textContent = text;
        lane.messages.push({ role: "user", content: text });
        const view = messageView("assistant", lane.id);
        lane.log.append(mine.element, view.element);
        lane.log.setAttribute("aria-busy", "true");
        const reply = await streamTurn(view, lane.id, [...prefix, ...lane.messages], extra, running.signal);
        lane.log.setAttribute("aria-busy", "false");
        if (view.element.dataset.done === "true") lane.messages.push(reply);
        else lane.messages.pop();
      }));
      send.disabled = false;
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
    });
    clear.addEventListener("click", layout);
    signal.addEventListener("abort", () => running?.abort());
  };
}
