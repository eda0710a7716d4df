// StructureMap's scatter: one point per structure, drawn with plain WebGL (gl.POINTS and a
// round-point shader, one draw call for any number of points); axes, rings and the lasso on
// a 2D canvas above it. Plain WebGL rather than three.js: esbuild bundles each widget on its
// own, so three.js here would be a second 590 kB copy on the page for one buffer and one shader.
//
// Interaction: hover shows formula and values; a click sets `active` (the structure shown
// beside the map) and `selection` = [it]; shift-drag, or drag with the lasso button on,
// selects the points inside (`selection`, int32); drag pans, the wheel zooms, double-click resets.
import { f32, i32, el as h, listen } from "./lib/buffers.js";

const MARGIN = { left: 66, right: 14, top: 12, bottom: 46 };
const DEFAULT_COLOR = [0.12, 0.47, 0.71];
const NAN_COLOR = [0.75, 0.75, 0.75];
const DIMMED = 0.18; // opacity of unselected points while there is a selection

const VERT = `
attribute vec2 a_pos; attribute vec3 a_color; attribute float a_size; attribute float a_alpha;
uniform vec4 u_view;  // x0, y0, 1/(x1-x0), 1/(y1-y0) of the window, in normalised data units
uniform float u_ratio;
varying vec3 v_color; varying float v_alpha; varying float v_rim;
void main() {
  vec2 t = (a_pos - u_view.xy) * u_view.zw;
  gl_Position = vec4(2.0 * t - 1.0, 0.0, 1.0);
  gl_PointSize = a_size * u_ratio;
  v_color = a_color; v_alpha = a_alpha;
  v_rim = a_size < 6.0 ? 1.0 : 0.5 - 1.2 / a_size;  // a ~1 px rim, none on tiny points
}`;
const FRAG = `
precision mediump float;
varying vec3 v_color; varying float v_alpha; varying float v_rim;
void main() {
  float r = length(gl_PointCoord - 0.5);
  if (r > 0.5) discard;
  // a darker rim keeps overlapping points apart; the edge is smoothed over the outer 10%
  gl_FragColor = vec4(r > v_rim ? v_color * 0.6 : v_color, v_alpha * (1.0 - smoothstep(0.45, 0.5, r)));
}`;

function hexRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) / 255, ((v >> 8) & 255) / 255, (v & 255) / 255];
}

// colour of v on the bar's stops ([[t, "#rrggbb"], ...], t in 0..1), linear between stops
function colorOf(bar, stops, v) {
  if (!Number.isFinite(v)) return NAN_COLOR;
  const t = Math.min(1, Math.max(0, (v - bar.vmin) / (bar.vmax - bar.vmin)));
  let k = 1;
  while (k < stops.length - 1 && stops[k][0] < t) k++;
  const [t0, c0] = stops[k - 1], [t1, c1] = stops[k];
  const u = t1 > t0 ? (t - t0) / (t1 - t0) : 0;
  return [0, 1, 2].map((i) => c0[i] + u * (c1[i] - c0[i]));
}

// about n round tick values covering [lo, hi]
function ticks(lo, hi, n = 6) {
  const raw = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

const fmt = (v) => (Number.isFinite(v) ? (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : +v.toPrecision(4)).toString() : "NaN");

function inside(poly, x, y) {
  let hit = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

class MapView {
  constructor(model, el) {
    const t0 = performance.now();
    this.model = model;
    this.root = h("div", "mw-map");
    this.root.style.cssText = "width:100%;font:12px sans-serif;user-select:none;";
    el.appendChild(this.root);
    this.makeToolbar();
    this.row = h("div");
    this.row.style.cssText = `display:flex;width:100%;height:${model.get("height")}px;`;
    this.stage = h("div", "mw-map-stage");
    this.stage.style.cssText = "position:relative;flex:1 1 auto;min-width:0;height:100%;";
    this.colorbar = h("div", "mw-map-colorbar");
    this.colorbar.style.cssText = "flex:0 0 auto;display:none;padding:12px 4px 46px 8px;";
    this.row.append(this.stage, this.colorbar);
    this.root.appendChild(this.row);
    this.canvas = h("canvas", "mw-map-points");
    this.canvas.style.cssText = `position:absolute;left:${MARGIN.left}px;top:${MARGIN.top}px;`;
    this.overlay = h("canvas", "mw-map-overlay");
    this.overlay.style.cssText = "position:absolute;left:0;top:0;cursor:crosshair;touch-action:none;";
    this.tooltip = h("div", "mw-map-tooltip");
    this.tooltip.style.cssText = "position:absolute;z-index:2;pointer-events:none;background:rgba(0,0,0,.78);color:#fff;padding:3px 6px;border-radius:3px;display:none;white-space:pre;";
    this.stage.append(this.canvas, this.overlay, this.tooltip);
    this.ctx = this.overlay.getContext("2d");
    this.initGL();
    this.hover = -1;
    this.lasso = null;
    this.load();
    this.resize();
    this.draw();
    this.timeFirstDraw(t0);
    this.bindEvents();
    const reload = () => { this.load(); this.draw(); };
    this.unlisten = listen(model, "change:x change:y change:c change:s change:colorbar change:labels change:formulas change:formula_index", reload);
    this.unlistenSel = listen(model, "change:selection", () => { this.loadSelection(); this.draw(); });
    this.unlistenActive = listen(model, "change:active", () => this.draw());
    this.unlistenHeight = listen(model, "change:height", () => { this.row.style.height = `${model.get("height")}px`; });
    this.resizer = new ResizeObserver(() => { this.resize(); this.draw(); });
    this.resizer.observe(this.stage);
  }

  makeToolbar() {
    const bar = h("div", "mw-map-toolbar");
    bar.style.cssText = "display:flex;gap:6px;align-items:center;margin-bottom:4px;";
    this.lassoButton = h("button", "mw-lasso");
    this.lassoButton.textContent = "lasso";
    this.lassoButton.title = "drag to select (or hold shift)";
    this.lassoButton.onclick = () => { this.lassoMode = !this.lassoMode; this.lassoButton.style.background = this.lassoMode ? "#cde" : ""; };
    const reset = h("button", "mw-reset");
    reset.textContent = "reset view";
    reset.onclick = () => { this.resetWindow(); this.draw(); };
    this.status = h("span", "mw-map-status");
    this.status.style.color = "#555";
    bar.append(this.lassoButton, reset, this.status);
    this.root.appendChild(bar);
  }

  initGL() {
    const gl = this.canvas.getContext("webgl", { antialias: false, alpha: false, preserveDrawingBuffer: true });
    this.gl = gl;
    const shader = (type, src) => {
      const s = gl.createShader(type);
      gl.shaderSource(s, src);
      gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
      return s;
    };
    const prog = gl.createProgram();
    gl.attachShader(prog, shader(gl.VERTEX_SHADER, VERT));
    gl.attachShader(prog, shader(gl.FRAGMENT_SHADER, FRAG));
    gl.linkProgram(prog);
    gl.useProgram(prog);
    this.prog = prog;
    this.buffers = {};
    for (const [name, size] of [["a_pos", 2], ["a_color", 3], ["a_size", 1], ["a_alpha", 1]]) {
      const loc = gl.getAttribLocation(prog, name);
      const buf = gl.createBuffer();
      gl.bindBuffer(gl.ARRAY_BUFFER, buf);
      gl.enableVertexAttribArray(loc);
      gl.vertexAttribPointer(loc, size, gl.FLOAT, false, 0, 0);
      this.buffers[name] = buf;
    }
    this.order = gl.createBuffer(); // draw order: selected points last, on top of the faded rest
    this.uintIndex = gl.getExtension("OES_element_index_uint");
    this.uView = gl.getUniformLocation(prog, "u_view");
    this.uRatio = gl.getUniformLocation(prog, "u_ratio");
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
    gl.clearColor(1, 1, 1, 1);
  }

  upload(name, data) {
    this.gl.bindBuffer(this.gl.ARRAY_BUFFER, this.buffers[name]);
    this.gl.bufferData(this.gl.ARRAY_BUFFER, data, this.gl.STATIC_DRAW);
  }

  // the model's arrays -> drawn points (finite x and y only), normalised to 0..1
  load() {
    const m = this.model;
    const x = f32(m.get("x")), y = f32(m.get("y")), c = f32(m.get("c")), s = f32(m.get("s"));
    this.raw = { x, y, c, s, formula: i32(m.get("formula_index")), formulas: m.get("formulas"), labels: m.get("labels") || {} };
    const idx = [];
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < x.length; i++) {
      if (!Number.isFinite(x[i]) || !Number.isFinite(y[i])) continue;
      idx.push(i);
      x0 = Math.min(x0, x[i]); x1 = Math.max(x1, x[i]); y0 = Math.min(y0, y[i]); y1 = Math.max(y1, y[i]);
    }
    if (!idx.length) { x0 = y0 = 0; x1 = y1 = 1; }
    const pad = (lo, hi) => (hi > lo ? [lo, hi] : [lo - 0.5, hi + 0.5]);
    [x0, x1] = pad(x0, x1); [y0, y1] = pad(y0, y1);
    this.bounds = { x0, x1, y0, y1 };
    const n = idx.length;
    this.idx = Int32Array.from(idx);
    this.pos = new Float32Array(2 * n); // normalised: 0..1 over the data's range (float32 keeps its precision)
    const color = new Float32Array(3 * n), size = new Float32Array(n);
    const bar = m.get("colorbar") || {};
    const stops = c.length && bar.stops ? bar.stops.map(([t, hx]) => [t, hexRgb(hx)]) : null;
    let slo = Infinity, shi = -Infinity;
    for (const v of s) if (Number.isFinite(v)) { slo = Math.min(slo, v); shi = Math.max(shi, v); }
    const base = n > 20000 ? 4 : n > 2000 ? 6 : 9;
    for (let k = 0; k < n; k++) {
      const i = idx[k];
      this.pos[2 * k] = (x[i] - x0) / (x1 - x0);
      this.pos[2 * k + 1] = (y[i] - y0) / (y1 - y0);
      color.set(stops ? colorOf(bar, stops, c[i]) : DEFAULT_COLOR, 3 * k);
      size[k] = s.length && Number.isFinite(s[i]) ? 4 + (shi > slo ? (14 * (s[i] - slo)) / (shi - slo) : 6) : base;
    }
    this.size = size;
    this.upload("a_pos", this.pos);
    this.upload("a_color", color);
    this.upload("a_size", size);
    this.loadSelection();
    if (!this.window) this.resetWindow();
    this.drawColorbar(bar, stops);
  }

  loadSelection() {
    const sel = i32(this.model.get("selection"));
    const chosen = new Uint8Array(this.raw.x.length);
    for (const i of sel) if (i >= 0 && i < chosen.length) chosen[i] = 1;
    const alpha = new Float32Array(this.idx.length).fill(1);
    if (sel.length) for (let k = 0; k < alpha.length; k++) alpha[k] = chosen[this.idx[k]] ? 1 : DIMMED;
    this.upload("a_alpha", alpha);
    this.ordered = sel.length > 0 && !!this.uintIndex;
    if (this.ordered) {
      const order = new Uint32Array(alpha.length);
      let j = 0;
      for (let k = 0; k < alpha.length; k++) if (alpha[k] < 1) order[j++] = k;
      for (let k = 0; k < alpha.length; k++) if (alpha[k] === 1) order[j++] = k;
      this.gl.bindBuffer(this.gl.ELEMENT_ARRAY_BUFFER, this.order);
      this.gl.bufferData(this.gl.ELEMENT_ARRAY_BUFFER, order, this.gl.STATIC_DRAW);
    }
    this.status.textContent = `${this.raw.x.length} structures` + (sel.length ? `, ${sel.length} selected` : "");
  }

  resetWindow() { this.window = { x0: -0.05, x1: 1.05, y0: -0.05, y1: 1.05 }; }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(50, this.stage.clientWidth), hgt = Math.max(50, this.stage.clientHeight);
    this.plot = { left: MARGIN.left, top: MARGIN.top, width: Math.max(10, w - MARGIN.left - MARGIN.right), height: Math.max(10, hgt - MARGIN.top - MARGIN.bottom) };
    Object.assign(this.canvas.style, { width: `${this.plot.width}px`, height: `${this.plot.height}px` });
    this.canvas.width = Math.round(this.plot.width * dpr);
    this.canvas.height = Math.round(this.plot.height * dpr);
    Object.assign(this.overlay.style, { width: `${w}px`, height: `${hgt}px` });
    this.overlay.width = Math.round(w * dpr);
    this.overlay.height = Math.round(hgt * dpr);
    this.dpr = dpr;
  }

  // normalised data -> stage pixels, and back
  toScreen(nx, ny) {
    const w = this.window, p = this.plot;
    return [p.left + ((nx - w.x0) / (w.x1 - w.x0)) * p.width, p.top + (1 - (ny - w.y0) / (w.y1 - w.y0)) * p.height];
  }

  toNorm(sx, sy) {
    const w = this.window, p = this.plot;
    return [w.x0 + ((sx - p.left) / p.width) * (w.x1 - w.x0), w.y0 + (1 - (sy - p.top) / p.height) * (w.y1 - w.y0)];
  }

  draw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = null; this.drawNow(); });
  }

  drawNow() {
    const gl = this.gl, w = this.window;
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.uniform4f(this.uView, w.x0, w.y0, 1 / (w.x1 - w.x0), 1 / (w.y1 - w.y0));
    gl.uniform1f(this.uRatio, this.dpr);
    if (this.ordered) gl.drawElements(gl.POINTS, this.idx.length, gl.UNSIGNED_INT, 0);
    else gl.drawArrays(gl.POINTS, 0, this.idx.length);
    this.drawOverlay();
    // the data window, for tests and notebooks that map pixels to data
    const b = this.bounds, dx = b.x1 - b.x0, dy = b.y1 - b.y0;
    this.root.dataset.window = [b.x0 + w.x0 * dx, b.x0 + w.x1 * dx, b.y0 + w.y0 * dy, b.y0 + w.y1 * dy].join(",");
  }

  timeFirstDraw(t0) {
    requestAnimationFrame(() => {
      if (this.frame) { cancelAnimationFrame(this.frame); this.frame = null; }
      this.drawNow();
      this.gl.readPixels(0, 0, 1, 1, this.gl.RGBA, this.gl.UNSIGNED_BYTE, new Uint8Array(4)); // waits for the GPU
      const t1 = performance.now();
      this.root.dataset.firstDrawMs = (t1 - t0).toFixed(1); // render() to the first frame drawn
      this.root.dataset.firstDrawnAt = String(t1);
    });
  }

  drawOverlay() {
    const ctx = this.ctx, p = this.plot, w = this.window, b = this.bounds, labels = this.raw.labels;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
    ctx.strokeStyle = "#444";
    ctx.fillStyle = "#222";
    ctx.lineWidth = 1;
    ctx.strokeRect(p.left - 0.5, p.top - 0.5, p.width + 1, p.height + 1);
    ctx.font = "11px sans-serif";
    const dx = b.x1 - b.x0, dy = b.y1 - b.y0;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const v of ticks(b.x0 + w.x0 * dx, b.x0 + w.x1 * dx)) {
      const [sx] = this.toScreen((v - b.x0) / dx, 0);
      ctx.beginPath(); ctx.moveTo(sx, p.top + p.height); ctx.lineTo(sx, p.top + p.height + 5); ctx.stroke();
      ctx.fillText(fmt(v), sx, p.top + p.height + 7);
    }
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const v of ticks(b.y0 + w.y0 * dy, b.y0 + w.y1 * dy)) {
      const [, sy] = this.toScreen(0, (v - b.y0) / dy);
      ctx.beginPath(); ctx.moveTo(p.left - 5, sy); ctx.lineTo(p.left, sy); ctx.stroke();
      ctx.fillText(fmt(v), p.left - 7, sy);
    }
    ctx.font = "12px sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    ctx.fillText(labels.x || "", p.left + p.width / 2, p.top + p.height + 44);
    ctx.save();
    ctx.translate(14, p.top + p.height / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle";
    ctx.fillText(labels.y || "", 0, 0);
    ctx.restore();
    // rings: the structure shown beside the map (red), the hovered one (black)
    const ring = (i, color) => {
      const k = this.drawnIndex(i);
      if (k < 0) return;
      const [sx, sy] = this.toScreen(this.pos[2 * k], this.pos[2 * k + 1]);
      ctx.strokeStyle = color; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(sx, sy, this.size[k] / 2 + 4, 0, 2 * Math.PI); ctx.stroke();
    };
    ctx.save();
    ctx.beginPath(); ctx.rect(p.left, p.top, p.width, p.height); ctx.clip();
    ring(this.model.get("active"), "#d62728");
    ring(this.hover, "#111");
    if (this.lasso) {
      ctx.strokeStyle = "#333"; ctx.lineWidth = 1; ctx.setLineDash([4, 3]); ctx.fillStyle = "rgba(80,120,200,0.12)";
      ctx.beginPath();
      this.lasso.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath(); ctx.fill(); ctx.stroke();
    }
    ctx.restore();
  }

  drawnIndex(i) {
    if (i < 0) return -1;
    // idx is sorted: binary search for structure i among the drawn points
    let lo = 0, hi = this.idx.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.idx[mid] === i) return mid;
      if (this.idx[mid] < i) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
  }

  drawColorbar(bar, stops) {
    const cb = this.colorbar;
    cb.replaceChildren();
    if (!stops) { cb.style.display = "none"; return; }
    cb.style.display = "flex";
    cb.style.gap = "4px";
    const grad = h("div", "mw-map-colorbar-gradient");
    const css = bar.stops.map(([t, hx]) => `${hx} ${(100 * t).toFixed(1)}%`).join(",");
    grad.style.cssText = `width:14px;height:100%;border:1px solid #888;background:linear-gradient(to top,${css});`;
    const scale = h("div");
    scale.style.cssText = "display:flex;flex-direction:column;justify-content:space-between;height:100%;font-size:11px;";
    const top = h("span"), bottom = h("span");
    top.textContent = fmt(bar.vmax);
    bottom.textContent = fmt(bar.vmin);
    scale.append(top, bottom);
    const label = h("div", "mw-map-colorbar-label");
    label.textContent = this.raw.labels.color || "";
    label.style.cssText = "writing-mode:vertical-rl;transform:rotate(180deg);text-align:center;font-size:12px;";
    cb.append(grad, scale, label);
  }

  // the drawn point nearest to stage pixel (sx, sy) within its radius + 3 px, or -1
  pick(sx, sy) {
    let best = -1, bestD = Infinity;
    const w = this.window, p = this.plot;
    const ax = p.width / (w.x1 - w.x0), ay = p.height / (w.y1 - w.y0);
    for (let k = 0; k < this.idx.length; k++) {
      const px = p.left + (this.pos[2 * k] - w.x0) * ax, py = p.top + p.height - (this.pos[2 * k + 1] - w.y0) * ay;
      const d = (px - sx) ** 2 + (py - sy) ** 2, r = this.size[k] / 2 + 3;
      if (d <= r * r && d <= bestD) { best = k; bestD = d; } // ties: the point drawn last (on top)
    }
    return best < 0 ? -1 : this.idx[best];
  }

  showTooltip(i, sx, sy) {
    if (i < 0) { this.tooltip.style.display = "none"; return; }
    const r = this.raw, l = r.labels;
    const lines = [`#${i} ${r.formulas[r.formula[i]] ?? ""}`, `${l.x || "x"}: ${fmt(r.x[i])}`, `${l.y || "y"}: ${fmt(r.y[i])}`];
    if (r.c.length) lines.push(`${l.color || "color"}: ${fmt(r.c[i])}`);
    if (r.s.length) lines.push(`${l.size || "size"}: ${fmt(r.s[i])}`);
    this.tooltip.textContent = lines.join("\n");
    this.tooltip.style.display = "block";
    const right = sx > this.stage.clientWidth / 2;
    this.tooltip.style.left = right ? "" : `${sx + 12}px`;
    this.tooltip.style.right = right ? `${this.stage.clientWidth - sx + 12}px` : "";
    this.tooltip.style.top = `${sy + 12}px`;
  }

  select(indices, active) {
    this.model.set("selection", new DataView(Int32Array.from(indices).buffer));
    if (active !== undefined) this.model.set("active", active);
    this.model.save_changes();
  }

  finishLasso() {
    const poly = this.lasso;
    this.lasso = null;
    if (poly.length < 3) return;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const [x, y] of poly) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    const chosen = [];
    for (let k = 0; k < this.idx.length; k++) {
      const [sx, sy] = this.toScreen(this.pos[2 * k], this.pos[2 * k + 1]);
      if (sx >= x0 && sx <= x1 && sy >= y0 && sy <= y1 && inside(poly, sx, sy)) chosen.push(this.idx[k]);
    }
    this.select(chosen);
  }

  bindEvents() {
    const ov = this.overlay;
    const at = (e) => { const r = ov.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
    let drag = null;
    ov.onpointerdown = (e) => {
      ov.setPointerCapture(e.pointerId);
      const [sx, sy] = at(e);
      if (e.shiftKey || this.lassoMode) this.lasso = [[sx, sy]];
      else drag = { sx, sy, window: { ...this.window }, moved: false };
      this.showTooltip(-1);
    };
    ov.onpointermove = (e) => {
      const [sx, sy] = at(e);
      if (this.lasso) {
        const [lx, ly] = this.lasso[this.lasso.length - 1];
        if ((sx - lx) ** 2 + (sy - ly) ** 2 > 4) { this.lasso.push([sx, sy]); this.draw(); }
      } else if (drag) {
        const w = drag.window, p = this.plot;
        const ddx = ((sx - drag.sx) / p.width) * (w.x1 - w.x0), ddy = ((sy - drag.sy) / p.height) * (w.y1 - w.y0);
        drag.moved ||= Math.abs(sx - drag.sx) + Math.abs(sy - drag.sy) > 3;
        if (drag.moved) { this.window = { x0: w.x0 - ddx, x1: w.x1 - ddx, y0: w.y0 + ddy, y1: w.y1 + ddy }; this.draw(); }
      } else {
        const i = this.pick(sx, sy);
        if (i !== this.hover) { this.hover = i; this.draw(); }
        this.showTooltip(i, sx, sy);
      }
    };
    ov.onpointerup = (e) => {
      const [sx, sy] = at(e);
      if (this.lasso) this.finishLasso();
      else if (drag && !drag.moved) {
        const i = this.pick(sx, sy);
        if (i >= 0) this.select([i], i);
        else this.select([]);
      }
      drag = null;
      this.draw();
    };
    ov.onpointerleave = () => { this.hover = -1; this.showTooltip(-1); this.draw(); };
    ov.ondblclick = () => { this.resetWindow(); this.draw(); };
    ov.addEventListener("wheel", (e) => {
      e.preventDefault();
      const [sx, sy] = at(e), [nx, ny] = this.toNorm(sx, sy), f = Math.exp(e.deltaY * 0.002), w = this.window;
      this.window = { x0: nx + (w.x0 - nx) * f, x1: nx + (w.x1 - nx) * f, y0: ny + (w.y0 - ny) * f, y1: ny + (w.y1 - ny) * f };
      this.draw();
    }, { passive: false });
  }

  dispose() {
    this.unlisten(); this.unlistenSel(); this.unlistenActive(); this.unlistenHeight();
    this.resizer.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
    this.gl.getExtension("WEBGL_lose_context")?.loseContext(); // browsers cap live WebGL contexts per page
    this.root.remove();
  }
}

export default {
  render({ model, el }) {
    const view = new MapView(model, el);
    return () => view.dispose();
  },
};
