// The learning curve as inline SVG, drawn from metrics.jsonl rows: training loss as a solid line, evaluation loss
// dashed with square markers, so the two read apart without colour. Redrawn whole as rows arrive (a few thousand
// points at most).

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 720;
const HEIGHT = 300;
const MARGIN = { top: 16, right: 20, bottom: 40, left: 60 };

function node(tag, attrs = {}, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

// Round tick values covering [low, high], about `count` of them.
function ticks(low, high, count) {
  if (high <= low) return [low];
  const raw = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const values = [];
  for (let value = Math.ceil(low / step) * step; value <= high + step * 1e-9; value += step) {
    values.push(Number(value.toPrecision(12)));
  }
  return values;
}

export function series(rows) {
  const train = rows.filter((r) => typeof r.loss === "number").map((r) => [r.step, r.loss]);
  const evals = rows.filter((r) => typeof r.eval_loss === "number").map((r) => [r.step, r.eval_loss]);
  return { train, evals };
}

export function describe(rows) {
  const { train, evals } = series(rows);
  const parts = [];
  if (train.length) {
    const [step, loss] = train[train.length - 1];
    parts.push(`${train.length} training step${train.length === 1 ? "" : "s"} logged; at step ${step} the training loss is ${loss.toFixed(4)}`);
  }
  if (evals.length) {
    const [step, loss] = evals[evals.length - 1];
    parts.push(`${evals.length} evaluation${evals.length === 1 ? "" : "s"}; at step ${step} the eval loss is ${loss.toFixed(4)}`);
  }
  return parts.length ? `${parts.join("; ")}.` : "No training steps logged yet.";
}

// An <svg> of the curve of `rows` (metrics.jsonl rows), with a title and description for assistive technology.
export function drawCurve(rows, title = "Learning curve") {
  const { train, evals } = series(rows);
  const svg = node("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", class: "curve", "aria-labelledby": "curve-title curve-desc" });
  svg.append(node("title", { id: "curve-title" }, title), node("desc", { id: "curve-desc" }, describe(rows)));
  const points = [...train, ...evals];
  if (!points.length) {
    svg.append(node("text", { x: WIDTH / 2, y: HEIGHT / 2, "text-anchor": "middle", class: "axis-label" }, "No steps yet"));
    return svg;
  }
  const steps = points.map((p) => p[0]);
  const losses = points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...steps), Math.max(...steps, Math.min(...steps) + 1)];
  let [y0, y1] = [Math.min(...losses), Math.max(...losses)];
  const pad = (y1 - y0) * 0.08 || Math.abs(y1) * 0.1 || 1;
  [y0, y1] = [Math.max(0, y0 - pad), y1 + pad];
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (step) => MARGIN.left + ((step - x0) / (x1 - x0)) * plotW;
  const y = (loss) => MARGIN.top + (1 - (loss - y0) / (y1 - y0)) * plotH;

  const axes = node("g", { class: "axes" });
  for (const value of ticks(y0, y1, 5)) {
    axes.append(node("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(value), y2: y(value), class: "grid" }));
    axes.append(node("text", { x: MARGIN.left - 8, y: y(value) + 4, "text-anchor": "end", class: "tick" }, String(value)));
  }
  for (const value of ticks(x0, x1, 6).filter(Number.isInteger)) {
    axes.append(node("line", { x1: x(value), x2: x(value), y1: HEIGHT - MARGIN.bottom, y2: HEIGHT - MARGIN.bottom + 5, class: "axis" }));
    axes.append(node("text", { x: x(value), y: HEIGHT - MARGIN.bottom + 18, "text-anchor": "middle", class: "tick" }, String(value)));
  }
  axes.append(node("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: HEIGHT - MARGIN.bottom, y2: HEIGHT - MARGIN.bottom, class: "axis" }));
  axes.append(node("line", { x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom, class: "axis" }));
  axes.append(node("text", { x: MARGIN.left + plotW / 2, y: HEIGHT - 4, "text-anchor": "middle", class: "axis-label" }, "step"));
  axes.append(node("text", { x: 14, y: MARGIN.top + plotH / 2, "text-anchor": "middle", class: "axis-label", transform: `rotate(-90 14 ${MARGIN.top + plotH / 2})` }, "loss"));
  svg.append(axes);

  const line = (pts) => pts.map(([s, l], i) => `${i ? "L" : "M"}${x(s).toFixed(1)} ${y(l).toFixed(1)}`).join(" ");
  if (train.length) svg.append(node("path", { d: line(train), class: "train-loss", "data-points": train.length }));
  if (evals.length) {
    svg.append(node("path", { d: line(evals), class: "eval-loss", "data-points": evals.length }));
    const marks = node("g", { class: "eval-marks" });
    for (const [s, l] of evals) marks.append(node("rect", { x: x(s) - 3.5, y: y(l) - 3.5, width: 7, height: 7 }));
    svg.append(marks);
  }
  const legend = node("g", { class: "legend", transform: `translate(${WIDTH - MARGIN.right - 170} ${MARGIN.top + 4})` });
  legend.append(node("line", { x1: 0, x2: 24, y1: 6, y2: 6, class: "train-loss" }));
  legend.append(node("text", { x: 30, y: 10, class: "tick" }, "training loss"));
  legend.append(node("line", { x1: 0, x2: 24, y1: 24, y2: 24, class: "eval-loss" }));
  legend.append(node("rect", { x: 8.5, y: 20.5, width: 7, height: 7, class: "eval-mark" }));
  legend.append(node("text", { x: 30, y: 28, class: "tick" }, "evaluation loss"));
  svg.append(legend);
  return svg;
}
