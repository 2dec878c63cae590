// #/playground: chat with one served model, streamed, with its Modelfile's system prompt and sampling settings
// shown and editable, optional tool definitions, tool calls shown and answered.

import { errorBox, fill, h } from "./dom.js";
import { labelled, messageView, modelSelect, modelSettings, samplingFields, toolFields, servedModels, streamTurn } from "./chat.js";

const EXAMPLE_TOOLS = `[{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]`;

function toolResults(calls, onSend) {
  const inputs = calls.map((call) => [call, h("textarea", { rows: 2, class: "tool-result" })]);
  const form = h("form", { class: "tool-results" },
    inputs.map(([call, input]) => labelled(`Result of ${call.function.name} (${call.id || "no id"})`, input)),
    h("button", { type: "submit" }, "Send tool results"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    form.remove();
    onSend(inputs.map(([call, input]) => ({ role: "tool", tool_call_id: call.id, content: input.value })));
  });
  return form;
}

export function playgroundView(query) {
  return async (root, signal) => {
    const models = await servedModels(signal);
    const chosen = models.includes(query.get("model")) ? query.get("model") : models[0];
    const { select, element: modelField } = modelSelect("Model", models, chosen);
    const sampling = samplingFields();
    const tools = h("textarea", { rows: 5, spellcheck: "false", name: "tools", placeholder: EXAMPLE_TOOLS });
    const log = h("div", { class: "log", "aria-live": "polite", "aria-busy": "false", "aria-label": "Conversation" });
    const input = h("textarea", { rows: 3, name: "message", required: true });
    const send = h("button", { type: "submit" }, "Send");
    const stopButton = h("button", { type: "button", disabled: true }, "Stop");
    const clear = h("button", { type: "button" }, "New conversation");
    const problem = h("div");
    const form = h("form", { class: "composer" }, labelled("Message", input, "Ctrl+Enter sends."), h("div", { class: "row" }, send, stopButton, clear));
    fill(root,
      h("h1", { tabindex: "-1" }, "Playground"),
      h("div", { class: "columns" },
        h("div", { class: "side" }, modelField, sampling.element,
          h("details", {}, h("summary", {}, "Tools"), labelled("Tool definitions (JSON list, OpenAI format)", tools))),
        h("div", { class: "main" }, problem, log, form)));
    if (!models.length) {
      fill(problem, h("p", { class: "empty" }, "This server serves no model."));
      return;
    }

    let messages = [];
    let running = null;
    const load = async () => {
      problem.replaceChildren();
      try {
        sampling.fillFrom(await modelSettings(select.value, signal));
      } catch (error) {
        fill(problem, errorBox(error, "cannot read the model's settings: "));
      }
    };
    select.addEventListener("change", load);
    await load();

    const turn = async () => {
      const settings = sampling.read();
      const toolList = toolFields(tools, problem);
      if (toolList === null) return;
      const system = settings.system.trim() ? [{ role: "system", content: settings.system }] : [];
      const view = messageView("assistant", `Assistant (${select.value})`);
      log.append(view.element);
      running = new AbortController();
      send.disabled = true;
      stopButton.disabled = false;
      log.setAttribute("aria-busy", "true");
      const extra = { ...settings.body, ...toolList };
      const reply = await streamTurn(view, select.value, [...system, ...messages], extra, running.signal);
      log.setAttribute("aria-busy", "false");
      send.disabled = false;
      stopButton.disabled = true;
      if (view.element.dataset.done !== "true") return;
      messages.push(reply);
      if (reply.tool_calls) {
        view.element.append(toolResults(reply.tool_calls, (results) => {
          messages.push(...results);
          for (const result of results) {
            const shown = messageView("tool", `Tool result (${result.tool_call_id || "no id"})`);
            shown.content.textContent = result.content;
            log.append(shown.element);
          }
          turn();
        }));
      }
    };

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!input.value.trim() || send.disabled) return;
      problem.replaceChildren();
      if (toolFields(tools, problem) === null) return; // nothing is sent: the message stays, to fix the tools and resend
      const mine = messageView("user", "You");
      mine.content.textContent = input.value;
      log.append(mine.element);
      messages.push({ role: "user", content: input.value });
      input.value = "";
      turn();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
    });
    stopButton.addEventListener("click", () => running?.abort());
    clear.addEventListener("click", () => {
      running?.abort();
      messages = [];
      log.replaceChildren();
      input.focus();
    });
    signal.addEventListener("abort", () => running?.abort());
  };
}
