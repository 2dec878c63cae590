// The server's JSON API as the page uses it: bearer key from this tab's sessionStorage, asked for on a 401;
// errors carry the OpenAI body's message, the same words the CLI prints.

const KEY = "tunesmith.apiKey";

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

function headers(extra = {}) {
  const key = sessionStorage.getItem(KEY);
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

let asking = null;

// Shows the key dialog once for any number of concurrent 401s; resolves true when a key was given.
function askForKey(reason) {
  if (asking) return asking;
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  document.getElementById("key-reason").textContent = reason;
  input.value = "";
  asking = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      asking = null;
      if (dialog.returnValue === "ok" && input.value) {
        sessionStorage.setItem(KEY, input.value.trim());
        resolve(true);
      } else {
        resolve(false);
      }
    }, { once: true });
    dialog.showModal();
    input.focus();
  });
  return asking;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    return new ApiError(response.status, `${response.status} ${response.statusText}`, null);
  }
  const message = body?.error?.message ?? `${response.status} ${response.statusText}`;
  return new ApiError(response.status, message, body);
}

// fetch with the key; on 401 asks for a key and tries again. Returns the Response when ok, else throws ApiError.
export async function request(path, { method = "GET", body, signal } = {}) {
  for (;;) {
    const init = { method, signal, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(path, init);
    if (response.ok) return response;
    const error = await errorOf(response);
    if (response.status === 401 && (await askForKey(error.message))) continue;
    throw error;
  }
}

export async function api(path, options) {
  const response = await request(path, options);
  return response.status === 204 ? null : response.json();
}

// Streams a chat completion; calls onDelta(delta) for each choice delta (content, reasoning_content, tool_calls),
// returns {finish_reason, usage}. The stream's own error event (after the first byte) is thrown as ApiError.
export async function streamChat(body, onDelta, signal) {
  const response = await request("/v1/chat/completions", { method: "POST", body: { ...body, stream: true }, signal });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const outcome = { finish_reason: null, usage: null };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of block.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return outcome;
        const event = JSON.parse(data);
        if (event.error) throw new ApiError(500, event.error.message, event);
        if (event.usage) outcome.usage = event.usage;
        for (const choice of event.choices ?? []) {
          if (choice.delta) onDelta(choice.delta);
          if (choice.finish_reason) outcome.finish_reason = choice.finish_reason;
        }
      }
    }
  }
  return outcome;
}

export function forgetKey() {
  sessionStorage.removeItem(KEY);
}
