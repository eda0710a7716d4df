// TracePlot: panels of live lines drawn with uPlot (canvas 2D, made for streaming series).
//
// The kernel sends only new rows ({type: "extend"}, one float32 buffer [k, 1 + n]); this
// view keeps them with the same thinning rule as the kernel's History (matwidgets/widgets/
// history.py), so both hold the same points. A view rendered mid-run says "hello" and gets
// the kernel's whole history ({type: "reset"}); a saved page starts from the synced `rows`.
// Redraws are coalesced to one per animation frame.
import uPlot from "uplot";
import css from "uplot/dist/uPlot.min.css";
import { el, f32, listen } from "./lib/buffers.js";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
const STYLE_ID = "mw-uplot-css";

// the kernel's History, row for row: at most max kept, every stride-th offered row, and the latest
class History {
  constructor(max) { this.max = max; this.clear(); }
  clear() { this.kept = []; this.latest = null; this.stride = 1; this.n = 0; }
  push(row) {
    if (this.n % this.stride === 0) {
      this.kept.push(row);
      if (this.kept.length >= this.max) { this.kept = this.kept.filter((_, i) => i % 2 === 0); this.stride *= 2; }
    }
    this.latest = row;
    this.n += 1;
  }
  items() {
    const k = this.kept;
    return this.latest === null || (k.length && k[k.length - 1] === this.latest) ? k : [...k, this.latest];
  }
}

function rowsOf(buffer, width) {
  const a = f32(buffer), out = [];
  for (let i = 0; i + width <= a.length; i += width) out.push(a.subarray(i, i + width));
  return out;
}

class TracePlotView {
  constructor(model, root) {
    this.model = model;
    this.root = root;
    this.width = 1 + model.get("names").length;
    this.history = new History(model.get("max_points"));
    this.plots = [];
    this.pending = false;
    this.build();
    this.seed();
  }

  // from the synced state: a finished run, or a saved page
  seed() {
    const h = this.history, rows = rowsOf(this.model.get("rows"), this.width);
    h.clear();
    h.kept = rows;
    h.latest = rows.length ? rows[rows.length - 1] : null;
    h.stride = this.model.get("stride");
    h.n = this.model.get("n_offered");
    this.redraw();
  }

  build() {
    for (const p of this.plots) p.plot.destroy();
    this.root.replaceChildren();
    const names = this.model.get("names"), styles = this.model.get("styles"), hidden = new Set(this.model.get("hidden"));
    const height = this.model.get("height"), panels = this.model.get("panels");
    const width = this.panelWidth(panels.length);
    let colour = 0;
    this.plots = panels.map((panel) => {
      const cols = panel.traces.map((name) => names.indexOf(name) + 1);
      const series = [{ label: this.model.get("x_label") }, ...panel.traces.map((name) => {
        const st = styles[name] || {};
        return { label: name, stroke: st.color || PALETTE[colour++ % PALETTE.length], width: 1.5,
                 dash: st.dash ? [6, 4] : undefined, show: !hidden.has(name), spanGaps: false };
      })];
      const box = el("div", "mw-trace-panel");
      this.root.appendChild(box);
      const opts = {
        title: panel.title, width, height, series, legend: { show: true, live: true },
        cursor: { drag: { x: true, y: false } },
        scales: { x: { time: false } },
        axes: [{ label: this.model.get("x_label"), size: 36, labelSize: 16 }, { size: 56 }],
      };
      return { cols, plot: new uPlot(opts, this.columns(cols), box) };
    });
    this.root.dataset.panels = String(this.plots.length);
  }

  panelWidth(n) {
    const w = this.root.clientWidth || this.root.parentElement?.clientWidth || 900;
    return Math.max(220, Math.floor((w - 12 * (n - 1)) / n));
  }

  // uPlot's columns for one panel: x, then each trace; NaN (no value) is a gap
  columns(cols) {
    const rows = this.history.items();
    const x = Float64Array.from(rows, (r) => r[0]);
    return [x, ...cols.map((c) => rows.map((r) => (Number.isFinite(r[c]) ? r[c] : null)))];
  }

  redraw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      for (const { cols, plot } of this.plots) plot.setData(this.columns(cols));
      this.root.dataset.points = String(this.history.items().length);
      this.root.dataset.received = String(this.history.n);
    });
  }

  onCustom(msg, buffers) {
    if (msg.type === "extend") {
      for (const row of rowsOf(buffers[0], this.width)) this.history.push(row);
    } else if (msg.type === "reset") {
      const rows = rowsOf(buffers[0], this.width), h = this.history;
      h.clear();
      h.kept = rows.slice(0, msg.n_kept);
      h.latest = rows.length ? rows[rows.length - 1] : null;
      h.stride = msg.stride;
      h.n = msg.n_offered;
    } else if (msg.type === "clear") {
      this.history.clear();
    }
    this.redraw();
  }

  resize() {
    const w = this.panelWidth(this.plots.length);
    for (const { plot } of this.plots) plot.setSize({ width: w, height: this.model.get("height") });
  }

  setHidden() {
    const hidden = new Set(this.model.get("hidden")), names = this.model.get("panels").map((p) => p.traces);
    this.plots.forEach(({ plot }, k) => names[k].forEach((name, i) => plot.setSeries(i + 1, { show: !hidden.has(name) })));
  }
}

export default {
  render({ model, el: host }) {
    if (!document.getElementById(STYLE_ID)) {
      const style = document.createElement("style");
      style.id = STYLE_ID;
      style.textContent = css + ".mw-trace{display:flex;gap:12px;flex-wrap:wrap}.mw-trace .u-title{font-size:13px;font-weight:600}"
        + ".mw-trace .u-legend{font-size:11px}";
      document.head.appendChild(style);
    }
    const root = el("div", "mw-trace");
    host.appendChild(root);
    const view = new TracePlotView(model, root);
    const observer = new ResizeObserver(() => view.resize());
    observer.observe(root);
    const offs = [
      listen(model, "msg:custom", (msg, buffers) => view.onCustom(msg, buffers)),
      listen(model, "change:rows change:stride change:n_offered", () => view.seed()),
      listen(model, "change:hidden", () => view.setHidden()),
      listen(model, "change:panels change:names change:styles change:height change:x_label", () => {
        view.width = 1 + model.get("names").length;
        view.build();
      }),
    ];
    model.send({ type: "hello" }); // the kernel answers with its history when a run is on
    root.dataset.ready = "1";
    return () => { offs.forEach((off) => off()); observer.disconnect(); for (const p of view.plots) p.plot.destroy(); };
  },
};
