// Small DOM helpers: build elements from data (text only, never HTML strings), tables, and number formats.

// h("p", {class: "x", onclick: f}, "text", child) -> element. Attributes starting with "on" become listeners.
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

// A table with a caption, column headers and rows of cells (each a value or an element).
export function table(caption, columns, rows, attrs = {}) {
  return h("div", { class: "table-wrap" },
    h("table", attrs,
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((column) => h("th", { scope: "col" }, column)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell ?? "–")))))));
}

// A definition list of label/value pairs, skipping empty values.
export function facts(pairs) {
  return h("dl", { class: "facts" },
    pairs.filter(([, value]) => value !== undefined && value !== null && value !== "")
      .map(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]));
}

export function number(value, digits = 4) {
  if (value === null || value === undefined || value === "") return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en");
  if (Math.abs(value) >= 1000) return value.toLocaleString("en", { maximumFractionDigits: 1 });
  return Number(value.toPrecision(digits)).toString();
}

export function bytes(count) {
  if (count === null || count === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

export function when(seconds) {
  if (!seconds) return "–";
  return new Date(seconds * 1000).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "medium" });
}

// A status word with a symbol, so it reads without colour: data-status lets the stylesheet colour it as well.
const SYMBOLS = {
  done: "✓", succeeded: "✓", failed: "✗", cancelled: "⊘", interrupted: "⏸", queued: "…",
  running: "▶", training: "▶", preparing: "▶", packaging: "▶", publishing: "▶", prepared: "◐", trained: "◐",
  up: "✓", down: "✗", passed: "✓",
};

export function badge(status) {
  return h("span", { class: "badge", dataset: { status: status ?? "unknown" } },
    h("span", { "aria-hidden": "true" }, SYMBOLS[status] ?? "•"), " ", status ?? "unknown");
}

// Replaces the children of `element` with `children`.
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

// An error shown in text (role=alert so screen readers hear it when it appears).
export function errorBox(error, prefix = "") {
  return h("p", { class: "error", role: "alert" }, h("strong", {}, "Error: "), prefix, error?.message ?? String(error));
}

// Calls `fn` now and then every `ms` milliseconds until `signal` aborts; a failed call is passed to `onError` and
// the polling goes on (a server restart should not stop a view from recovering).
export async function repeat(ms, signal, fn, onError = () => {}) {
  while (!signal.aborted) {
    try {
      await fn();
    } catch (error) {
      if (signal.aborted) return;
      onError(error);
    }
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
    });
  }
}
