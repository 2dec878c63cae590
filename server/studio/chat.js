// What the playground and the compare view share: the served models, a model's Modelfile settings (GET
// /v1/models/{id}'s "tunesmith" object), the sampling fields, and one assistant turn streamed into the page.

import { api, streamChat } from "./api.js";
import { errorBox, fill, h } from "./dom.js";

export async function servedModels(signal) {
  return (await api("/v1/models", { signal })).data.map((model) => model.id);
}

// The model's Modelfile SYSTEM and PARAMETERs (null when the server does not describe them).
export async function modelSettings(id, signal) {
  const model = await api(`/v1/models/${encodeURIComponent(id)}`, { signal });
  return model.tunesmith ?? null;
}

let counter = 0;
function labelled(label, input, help) {
  counter += 1;
  input.id = `chat-field-${counter}`;
  if (help) input.setAttribute("aria-describedby", `${input.id}-help`);
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input,
    help ? h("small", { id: `${input.id}-help` }, help) : null);
}

export function modelSelect(label, models, selected, { optional = false } = {}) {
  const select = h("select", { name: "model" },
    optional ? h("option", { value: "" }, "— none —") : null,
    models.map((id) => h("option", { value: id, selected: id === selected }, id)));
  if (selected !== undefined) select.value = selected;
  return { select, element: labelled(label, select) };
}

// The sampling fields and the system prompt, prefilled from a model's Modelfile; read() gives the request's part.
export function samplingFields({ system = true } = {}) {
  const inputs = {
    temperature: h("input", { type: "number", step: "0.05", min: "0", max: "2", name: "temperature" }),
    top_p: h("input", { type: "number", step: "0.05", min: "0", max: "1", name: "top_p" }),
    max_tokens: h("input", { type: "number", step: "1", min: "1", name: "max_tokens" }),
    seed: h("input", { type: "number", step: "1", name: "seed" }),
    stop: h("textarea", { rows: 2, name: "stop", spellcheck: "false" }),
  };
  const systemInput = h("textarea", { rows: 3, name: "system" });
  const others = h("p", { class: "others" });
  const element = h("fieldset", { class: "sampling" }, h("legend", {}, "Settings"),
    system ? labelled("System prompt", systemInput, "Prefilled from the Modelfile's SYSTEM; empty sends none.") : null,
    h("div", { class: "grid" },
      labelled("Temperature", inputs.temperature),
      labelled("Top p", inputs.top_p),
      labelled("Max tokens", inputs.max_tokens),
      labelled("Seed", inputs.seed)),
    labelled("Stop sequences", inputs.stop, "One a line."),
    others);
  const fillFrom = (settings) => {
    const params = settings?.parameters ?? {};
    inputs.temperature.value = params.temperature ?? "";
    inputs.top_p.value = params.top_p ?? "";
    inputs.max_tokens.value = params.num_predict > 0 ? params.num_predict : "";
    inputs.seed.value = params.seed ?? "";
    inputs.stop.value = [].concat(params.stop ?? []).join("\n");
    systemInput.value = settings?.system ?? "";
    const rest = Object.entries(params).filter(([k]) => !["temperature", "top_p", "num_predict", "seed", "stop"].includes(k));
    others.textContent = rest.length ? `Also in the Modelfile: ${rest.map(([k, v]) => `${k} ${v}`).join(", ")}.` : "";
  };
  const read = () => {
    const body = {};
    for (const key of ["temperature", "top_p"]) if (inputs[key].value !== "") body[key] = Number(inputs[key].value);
    for (const key of ["max_tokens", "seed"]) if (inputs[key].value !== "") body[key] = Math.trunc(Number(inputs[key].value));
    const stop = inputs.stop.value.split("\n").filter((s) => s !== "");
    if (stop.length) body.stop = stop;
    return { body, system: systemInput.value };
  };
  return { element, fillFrom, read, inputs, systemInput };
}

// A message as shown: who said it, its reasoning (folded), its text and its tool calls.
export function messageView(role, label) {
  const content = h("div", { class: "content" });
  const reasoning = h("pre", { class: "reasoning" });
  const reasoningBox = h("details", { class: "reasoning-box", hidden: true }, h("summary", {}, "Reasoning"), reasoning);
  const calls = h("ol", { class: "tool-calls", hidden: true, "aria-label": "Tool calls" });
  const status = h("p", { class: "turn-status" });
  const element = h("article", { class: `message ${role}` }, h("h3", { class: "who" }, label), reasoningBox, content, calls, status);
  return { element, content, reasoning, reasoningBox, calls, status };
}

function showCalls(view, calls) {
  view.calls.hidden = !calls.length;
  view.calls.replaceChildren(...calls.map((call) => h("li", { class: "tool-call" },
    h("span", { class: "tool-name" }, `Tool call: ${call.function.name}`),
    h("pre", { class: "tool-arguments" }, call.function.arguments))));
}

// Streams one assistant turn of `model` for `messages` into `view`; returns the assistant message to keep.
export async function streamTurn(view, model, messages, extra, signal) {
  const message = { role: "assistant", content: "" };
  let reasoning = "";
  const calls = [];
  view.status.textContent = "Answering…";
  try {
    const outcome = await streamChat({ model, messages, ...extra }, (delta) => {
      if (delta.content) {
        message.content += delta.content;
        view.content.textContent = message.content;
      }
      if (delta.reasoning_content) {
        reasoning += delta.reasoning_content;
        view.reasoningBox.hidden = false;
        view.reasoning.textContent = reasoning;
      }
      for (const part of delta.tool_calls ?? []) {
        const call = (calls[part.index ?? 0] ??= { id: "", type: "function", function: { name: "", arguments: "" } });
        if (part.id) call.id = part.id;
        if (part.function?.name) call.function.name += part.function.name;
        if (part.function?.arguments) call.function.arguments += part.function.arguments;
        showCalls(view, calls);
      }
    }, signal);
    const tokens = outcome.usage ? ` · ${outcome.usage.completion_tokens} tokens` : "";
    view.status.textContent = `Finished: ${outcome.finish_reason ?? "stop"}${tokens}`;
    view.element.dataset.done = "true";
  } catch (error) {
    view.status.textContent = signal?.aborted ? "Stopped." : `Error: ${error.message}`;
    view.status.setAttribute("role", signal?.aborted ? "status" : "alert");
    view.element.dataset.done = "error";
  }
  if (reasoning) message.reasoning_content = reasoning;
  if (calls.length) message.tool_calls = calls;
  return message;
}

// The tools textarea's definitions as the request's fields ({} for none); when they are not a JSON list, says why
// in `problem` and returns null.
export function toolFields(textarea, problem) {
  if (!textarea.value.trim()) return {};
  let tools;
  try {
    tools = JSON.parse(textarea.value);
  } catch (error) {
    fill(problem, errorBox(new Error(`the tools are not JSON: ${error.message}`)));
    return null;
  }
  if (!Array.isArray(tools)) {
    fill(problem, errorBox(new Error("the tools must be a JSON list of {\"type\": \"function\", \"function\": {...}}")));
    return null;
  }
  return { tools };
}

export { labelled };
