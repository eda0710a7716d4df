// StructureView's viewer: atoms, periodic bonds, unit cell, picking, colour bar, trajectories.
// Loaded once per page by ../structure_view.js (three.js warns when it is evaluated twice).
//
// What is drawn (sites, styles, arrows) is in lib/drawing.js and lib/sites.js; labels in
// lib/labels.js. Rendering is on demand (after a change or a camera move), never a busy loop.
import {
  AmbientLight, ConeGeometry, Mesh, BufferGeometry, MeshBasicMaterial, CylinderGeometry, DirectionalLight,
  Float32BufferAttribute, LineBasicMaterial, LineSegments, Matrix4, OrthographicCamera,
  PerspectiveCamera, Quaternion, Raycaster, Scene, Vector2, Vector3, WebGLRenderer,
} from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { f32, i32, el as h, listen } from "./buffers.js";
import { Drawing } from "./drawing.js";
import { STYLES } from "./sites.js";
import { Labels } from "./labels.js";
import { exportView } from "./export.js";

const AXIS_COLORS = ["#d62728", "#2ca02c", "#1f77b4"];
const TRIAD = 90; // px: the a/b/c axes drawn in the canvas corner
const hex = (c, i) => "#" + [0, 1, 2].map((k) => Math.round(255 * (c[3 * i + k] ?? 0.5)).toString(16).padStart(2, "0")).join("");
const Y = new Vector3(0, 1, 0);
// Resolution while streaming. WebGL without a GPU (SwiftShader) pays for every pixel, and a
// big stream draws well under 30 frames/s at full resolution. While streamed frames arrive
// faster than they are drawn and the time from picture to picture exceeds STREAM_MS, the
// resolution drops a step (down to the trait stream_resolution; 1: never), and it is drawn
// sharp again SHARP_AFTER_MS after the last streamed frame. With a GPU it never drops.
const STREAM_MS = 1000 / 30, STEP = 0.8, SHARP_AFTER_MS = 300;

class Viewer {
  constructor(model, el) {
    this.model = model;
    this.root = h("div", "mw-sv");
    this.root.viewer = this; // for benchmarks/viewer_cost.py, which times parts of the picture
    this.root.style.cssText = "position:relative;width:100%;font:12px sans-serif;";
    el.appendChild(this.root);
    this.toolbar = this.makeToolbar();
    // the canvas and, beside it (never over the atoms), the colour bar
    this.row = h("div");
    this.row.style.cssText = `display:flex;width:100%;height:${model.get("height")}px;`;
    this.root.appendChild(this.row);
    this.canvasBox = h("div", "mw-stage");
    this.canvasBox.style.cssText = "position:relative;flex:1 1 auto;min-width:0;height:100%;overflow:hidden;";
    this.colorbar = h("div", "mw-colorbar");
    this.colorbar.style.cssText = "flex:0 0 auto;display:none;padding:4px 2px 4px 6px;";
    this.row.append(this.canvasBox, this.colorbar);
    const overlay = (cls, css) => { const d = h("div", cls); d.style.cssText = "position:absolute;z-index:2;" + css; this.canvasBox.appendChild(d); return d; };
    this.tooltip = overlay("mw-tooltip", "pointer-events:none;background:rgba(0,0,0,.75);color:#fff;padding:2px 6px;border-radius:3px;display:none;white-space:nowrap;");
    this.readout = overlay("mw-readout", "left:6px;top:4px;pointer-events:none;background:rgba(255,255,255,.85);padding:2px 4px;border-radius:3px;display:none;white-space:pre;font-family:monospace;");
    this.legend = overlay("mw-legend", "left:6px;bottom:4px;display:flex;flex-wrap:wrap;gap:6px;background:rgba(255,255,255,.8);padding:2px 4px;border-radius:3px;");
    this.axisLabels = ["a", "b", "c"].map((name, k) => {
      const d = overlay("mw-axis-label", `pointer-events:none;font:bold 13px sans-serif;color:${AXIS_COLORS[k]};display:none;transform:translate(-50%,-50%);`);
      d.textContent = name;
      return d;
    });
    this.hoverZ = null; // an element whose atoms the legend highlights while the pointer is on it
    this.trajBar = this.makeTrajectoryBar();

    // multisampling costs most when WebGL runs on the CPU (SwiftShader); big systems skip it
    const nAtoms = i32(model.get("numbers")).length;
    this.renderer = new WebGLRenderer({ antialias: nAtoms < 500 });
    this.renderer.setPixelRatio(window.devicePixelRatio || 1);
    this.renderer.setClearColor(0xffffff, 1);
    this.canvasBox.appendChild(this.renderer.domElement);
    this.scene = new Scene();
    this.scene.add(new AmbientLight(0xffffff, 0.9));
    this.light = new DirectionalLight(0xffffff, 1.6);
    this.scene.add(this.light);
    this.persp = new PerspectiveCamera(40, 1, 0.1, 10000);
    this.ortho = new OrthographicCamera(-1, 1, 1, -1, -10000, 10000);
    this.cellMaterial = new LineBasicMaterial({ color: 0x333333 });
    this.raycaster = new Raycaster();
    this.drawing = new Drawing(this.scene, this.light);
    this.labels = new Labels(this.canvasBox);
    this.traj = null; // {n, shown, inflight, wanted}: a trajectory from show_frames, kept in the kernel
    this.pending = null; // latest streamed frame, not yet drawn
    this.waiting = null; // a frame whose bonds or atoms (topology_id) have not arrived yet
    this.waiters = new Map(); // get_frame requests of a movie: id -> the frame's promise
    this.viewId = Math.random().toString(36).slice(2); // which view answered an export
    this.frameSeq = 0;
    this.scale = 1; // resolution, relative to the device's pixels (lowered while a stream lags)
    this.stream = { last: 0, n: 0, ms: 0, behind: 0, calm: 0, replaced: 0, timer: null };
    this.load();
    this.useCamera(model.get("projection"));
    this.fit();

    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(this.canvasBox);
    this.bindPointer();
    this.resize();
  }

  // ---- data from the model ---------------------------------------------------------
  // several traits change together (one kernel message): load, rebuild or update once, after all of them
  later(what, refit = false) {
    const rank = { update: 0, rebuild: 1, load: 2 };
    if (!this.todo) {
      this.todo = { what, refit };
      queueMicrotask(() => {
        const { what: w, refit: r } = this.todo;
        this.todo = null;
        if (w === "load") this.load(); else if (w === "rebuild") this.rebuild(); else this.updateGeometry();
        if (r) this.fit(false);
      });
    } else {
      if (rank[what] > rank[this.todo.what]) this.todo.what = what;
      this.todo.refit ||= refit;
    }
  }

  load() {
    const m = this.model;
    this.numbers = i32(m.get("numbers"));
    this.n = this.numbers.length;
    this.positions = f32(m.get("positions"));
    const cell = f32(m.get("cell"));
    // no structure yet (an empty view): no cell either, rather than NaN geometry
    this.hasCell = cell.length === 9 && cell.some((x) => x !== 0);
    this.cell = cell.length === 9 ? cell : new Float32Array(9);
    this.colors = f32(m.get("colors"));
    this.elementColors = f32(m.get("element_colors"));
    this.radii = f32(m.get("radii"));
    this.values = f32(m.get("values"));
    this.bondI = i32(m.get("bond_i"));
    this.bondJ = i32(m.get("bond_j"));
    this.bondShift = f32(m.get("bond_shift"));
    this.species = m.get("species");
    this.topo = m.get("topology_id");
    this.rebuild();
    // a frame that came before the traits it is drawn with (custom messages are handled at
    // once, trait updates a little later): its traits are here now
    if (this.waiting && this.waiting.topo <= this.topo) { const f = this.waiting; this.waiting = null; this.accept(f); }
  }

  rebuild() {
    // sites, their looks under the style, and the meshes (after a structure or style change)
    if (this.cellLines) { this.scene.remove(this.cellLines); this.cellLines.geometry.dispose(); }
    this.drawing.rebuild(this);
    this.S = this.drawing.S;
    this.cellLines = new LineSegments(new BufferGeometry(), this.cellMaterial);
    this.cellKey = null;
    this.scene.add(this.cellLines);
    this.updateColors();
    this.updateGeometry();
  }

  updateGeometry() {
    this.drawing.update(this);
    this.root.dataset.sites = String(this.drawing.shown.length);
    this.root.dataset.arrows = String(this.drawing.nArrows);
    this.root.dataset.bonds = String(this.drawing.halves.length); // half bonds (a bond between two drawn atoms: two)
    this.root.dataset.cylinders = String(this.drawing.sticks.length);
    this.root.dataset.polyFaces = String(this.drawing.polyhedra.nFaces);
    this.updateCell();
    this.updateHighlight();
    this.requestRender();
  }

  updateCell() {
    const c = this.cell, pts = [];
    const corner = (a, b, k) => [a * c[0] + b * c[3] + k * c[6], a * c[1] + b * c[4] + k * c[7], a * c[2] + b * c[5] + k * c[8]];
    const edges = [[0,0,0,1,0,0],[0,0,0,0,1,0],[0,0,0,0,0,1],[1,0,0,1,1,0],[1,0,0,1,0,1],[0,1,0,1,1,0],
                   [0,1,0,0,1,1],[0,0,1,1,0,1],[0,0,1,0,1,1],[1,1,0,1,1,1],[1,0,1,1,1,1],[0,1,1,1,1,1]];
    const show = this.model.get("show_cell") && this.hasCell;
    this.cellLines.visible = show;
    // new lines and axes only for a new cell or visibility: not at every streamed frame
    const key = show ? Array.from(c).join(",") : "";
    if (key === this.cellKey) return;
    this.cellKey = key;
    if (show) {
      for (const e of edges) pts.push(...corner(e[0], e[1], e[2]), ...corner(e[3], e[4], e[5]));
      this.cellLines.geometry.setAttribute("position", new Float32BufferAttribute(pts, 3));
      this.cellLines.geometry.computeBoundingSphere();
    }
    this.updateAxes(show);
  }

  updateAxes(show) {
    // the a/b/c triad: its own small scene drawn in the canvas corner, turning with the
    // camera, so no atom (the one at the origin included) ever hides it
    if (!this.axesScene) {
      this.axesScene = new Scene();
      this.axesCam = new OrthographicCamera(-2, 2, 2, -2, -10, 10);
    }
    this.axesScene.clear();
    this.axisTips = [];
    if (!show) return;
    const c = this.cell, q = new Quaternion();
    for (let a = 0; a < 3; a++) {
      const u = new Vector3(c[3 * a], c[3 * a + 1], c[3 * a + 2]).normalize();
      const mat = new MeshBasicMaterial({ color: AXIS_COLORS[a] });
      q.setFromUnitVectors(Y, u);
      const shaft = new Mesh(new CylinderGeometry(0.05, 0.05, 0.75, 8), mat);
      shaft.position.copy(u).multiplyScalar(0.375);
      shaft.quaternion.copy(q);
      const head = new Mesh(new ConeGeometry(0.13, 0.3, 12), mat);
      head.position.copy(u).multiplyScalar(0.9);
      head.quaternion.copy(q);
      this.axesScene.add(shaft, head);
      this.axisTips.push(u.clone().multiplyScalar(1.3));
    }
  }

  drawAxes() {
    // after the main render: the triad in a TRIAD px square at the bottom right, and its labels
    const w = this.canvasBox.clientWidth, hgt = this.canvasBox.clientHeight, S = TRIAD;
    const show = this.axisTips?.length === 3;
    if (show) {
      this.axesCam.quaternion.copy(this.camera.quaternion);
      this.axesCam.position.set(0, 0, 5).applyQuaternion(this.camera.quaternion);
      this.axesCam.updateMatrixWorld();
      this.renderer.autoClear = false;
      this.renderer.setViewport(w - S, 0, S, S);
      this.renderer.setScissor(w - S, 0, S, S);
      this.renderer.setScissorTest(true);
      this.renderer.clearDepth();
      this.renderer.render(this.axesScene, this.axesCam);
      this.renderer.setScissorTest(false);
      this.renderer.setViewport(0, 0, w, hgt);
      this.renderer.autoClear = true;
    }
    const v = new Vector3();
    this.axisLabels.forEach((d, k) => {
      if (!show) { d.style.display = "none"; return; }
      v.copy(this.axisTips[k]).project(this.axesCam);
      Object.assign(d.style, { display: "block", left: `${w - S + ((v.x + 1) / 2) * S}px`, top: `${hgt - S + ((1 - v.y) / 2) * S}px` });
    });
  }

  updateColors() {
    this.drawing.colors(this);
    this.drawColorbar();
    this.drawLegend();
    this.requestRender();
  }

  drawLegend() {
    // one swatch per element in its own colour; hovering one highlights that element's atoms
    this.legend.innerHTML = "";
    const seen = new Map();
    for (let i = 0; i < this.n; i++) {
      const z = this.numbers[i];
      if (!seen.has(z)) seen.set(z, { first: i, count: 0 });
      seen.get(z).count++;
    }
    const ec = this.elementColors.length === 3 * this.n ? this.elementColors : this.colors;
    for (const [z, { first, count }] of seen) {
      const item = h("span", "mw-legend-item");
      item.style.cssText = "display:inline-flex;align-items:center;gap:3px;cursor:default;";
      item.dataset.z = String(z);
      const sw = h("span");
      sw.style.cssText = `display:inline-block;width:10px;height:10px;border-radius:50%;border:1px solid #555;background:${hex(ec, first)};`;
      const label = h("span");
      label.textContent = `${this.species[String(z)] || z} ${count}`;
      item.append(sw, label);
      item.onpointerenter = () => { this.hoverZ = z; this.updateHighlight(); };
      item.onpointerleave = () => { this.hoverZ = null; this.updateHighlight(); };
      this.legend.appendChild(item);
    }
    this.legend.style.display = seen.size ? "flex" : "none";
  }

  drawReadout() {
    // the selected atoms: element, index, Cartesian and fractional coordinates (and a distance)
    const sel = this.model.get("selected").filter((i) => i >= 0 && i < this.n);
    if (!sel.length) { this.readout.style.display = "none"; this.readout.textContent = ""; return; }
    const p = this.positions, c = this.cell;
    const m = new Matrix4().set(c[0], c[3], c[6], 0, c[1], c[4], c[7], 0, c[2], c[5], c[8], 0, 0, 0, 0, 1);
    const inv = this.hasCell ? m.clone().invert() : null;
    const fmt = (x) => x.toFixed(3).padStart(7);
    const lines = sel.slice(0, 4).map((i) => {
      const v = new Vector3(p[3 * i], p[3 * i + 1], p[3 * i + 2]);
      const sym = this.species[String(this.numbers[i])] || this.numbers[i];
      let line = `${sym} #${i}  xyz ${fmt(v.x)} ${fmt(v.y)} ${fmt(v.z)} Å`;
      if (inv) { const f = v.clone().applyMatrix4(inv); line += `  frac ${fmt(f.x)} ${fmt(f.y)} ${fmt(f.z)}`; }
      return line;
    });
    if (sel.length > 4) lines.push(`… ${sel.length} atoms selected`);
    const ms = this.model.get("measurements") || {};
    const names = (ms.atoms || []).map((i) => `#${i}`).join("-");
    if (ms.distance !== undefined) lines.push(`distance ${names}: ${ms.distance.toFixed(3)} Å`);
    if (ms.angle !== undefined) lines.push(`angle ${names}: ${ms.angle.toFixed(2)}°`);
    if (ms.dihedral !== undefined) lines.push(`dihedral ${names}: ${ms.dihedral.toFixed(2)}°`);
    this.readout.textContent = lines.join("\n");
    this.readout.style.display = "block";
  }

  drawColorbar() {
    // vertical, beside the canvas: vmax at the top, vmin at the bottom
    const cb = this.model.get("colorbar");
    if (!cb || !cb.stops) { this.colorbar.style.display = "none"; return; } // the canvas takes the room (ResizeObserver)
    const grad = cb.stops.map(([t, c]) => `${c} ${(100 * t).toFixed(1)}%`).join(",");
    this.colorbar.innerHTML = "";
    const label = h("div"); label.textContent = cb.label || "";
    label.style.cssText = "max-width:90px;font-size:11px;margin-bottom:4px;overflow-wrap:anywhere;";
    const body = h("div"); body.style.cssText = "display:flex;gap:4px;height:calc(100% - 40px);";
    const bar = h("div"); bar.style.cssText = `width:14px;background:linear-gradient(to top,${grad});border:1px solid #999;`;
    const ticks = h("div"); ticks.style.cssText = "display:flex;flex-direction:column;justify-content:space-between;font-size:11px;";
    for (const t of [cb.vmax, cb.center ?? (cb.vmin + cb.vmax) / 2, cb.vmin]) {
      const s = h("span"); s.textContent = Number(t).toPrecision(3); ticks.appendChild(s);
    }
    body.append(bar, ticks);
    this.colorbar.append(label, body);
    this.colorbar.style.display = "block";
  }

  updateHighlight() {
    let sel = this.model.get("selected");
    if (this.hoverZ !== null) sel = [...sel, ...Array.from(this.numbers.keys()).filter((i) => this.numbers[i] === this.hoverZ)];
    this.drawing.highlightAtoms(sel.filter((i) => i >= 0 && i < this.n));
    this.drawReadout();
    this.requestRender();
  }

  // ---- camera -------------------------------------------------------------------------
  useCamera(kind) {
    const old = this.camera;
    this.camera = kind === "orthographic" ? this.ortho : this.persp;
    if (old && old !== this.camera) {
      this.camera.position.copy(old.position);
      this.camera.quaternion.copy(old.quaternion);
    }
    this.controls?.dispose();
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.addEventListener("change", () => this.requestRender());
    if (old) this.fit(false);
    this.resize();
  }

  fit(resetDirection = true) {
    // every atom (with its drawn radius), the cell and the axes in view: the camera
    // distance is the smallest at which all of them fit both fields of view
    const { points, P, radius: rAtom } = this.drawing.extent();
    const cloud = Array.from(points, (site) => new Vector3(P[3 * site], P[3 * site + 1], P[3 * site + 2]));
    const c = this.cell, rep = this.model.get("repeat");
    if (this.hasCell) for (const corner of [[0,0,0],[1,1,1],[1,0,0],[0,1,0],[0,0,1],[1,1,0],[1,0,1],[0,1,1]]) {
      const [a, b, k] = [corner[0] * rep[0], corner[1] * rep[1], corner[2] * rep[2]];
      cloud.push(new Vector3(a * c[0] + b * c[3] + k * c[6], a * c[1] + b * c[4] + k * c[7], a * c[2] + b * c[5] + k * c[8]));
    }
    if (!cloud.length) cloud.push(new Vector3(-2, -2, -2), new Vector3(2, 2, 2)); // nothing to show yet
    const lo = new Vector3(Infinity, Infinity, Infinity), hi = new Vector3(-Infinity, -Infinity, -Infinity);
    for (const p of cloud) { lo.min(p); hi.max(p); }
    const center = lo.clone().add(hi).multiplyScalar(0.5);
    const dir = resetDirection ? new Vector3(0.35, 0.25, 1).normalize() : this.camera.position.clone().sub(this.controls.target).normalize();
    const right = new Vector3().crossVectors(new Vector3(0, 1, 0), dir).normalize();
    if (right.lengthSq() < 1e-6) right.set(1, 0, 0);
    const up = new Vector3().crossVectors(dir, right);
    const w = this.canvasBox.clientWidth || 600, hgt = this.canvasBox.clientHeight || 400, aspect = w / hgt;
    const tv = Math.tan((this.persp.fov * Math.PI) / 360), th = tv * aspect, margin = 1.06;
    let dist = 0, extent = 1;
    for (const p of cloud) {
      const d = p.clone().sub(center), x = Math.abs(d.dot(right)) + rAtom, y = Math.abs(d.dot(up)) + rAtom, z = d.dot(dir) + rAtom;
      dist = Math.max(dist, z + (margin * x) / th, z + (margin * y) / tv);
      extent = Math.max(extent, (margin * x) / aspect, margin * y);
    }
    this.radius = extent; // the orthographic camera's half height
    this.camera.position.copy(center.clone().addScaledVector(dir, dist));
    this.camera.up.set(0, 1, 0);
    this.controls.target.copy(center);
    const far = hi.clone().sub(lo).length() + 2 * rAtom;
    this.persp.near = Math.max(dist - far, dist / 100); this.persp.far = dist + far * 2;
    this.ortho.zoom = 1;
    this.resize();
    this.controls.update();
  }

  resize() {
    const w = this.canvasBox.clientWidth || 600, hgt = this.canvasBox.clientHeight || 400;
    this.renderer.setSize(w, hgt);
    this.persp.aspect = w / hgt;
    this.persp.updateProjectionMatrix();
    const r = this.radius || 10, a = w / hgt;
    Object.assign(this.ortho, { left: -r * a, right: r * a, top: r, bottom: -r });
    this.ortho.updateProjectionMatrix();
    this.requestRender();
  }

  requestRender() {
    if (this.raf) return;
    this.raf = requestAnimationFrame(() => {
      this.raf = null;
      const t0 = performance.now();
      if (this.pending) this.applyFrame(this.pending);
      const t1 = performance.now();
      this.light.position.copy(this.camera.position);
      this.renderer.render(this.scene, this.camera);
      this.drawAxes();
      this.labels.draw(this.model.get("labels"), this, this.drawing.P, this.drawing.shown);
      this.root.dataset.updateMs = (t1 - t0).toFixed(1);
      this.root.dataset.renderMs = (performance.now() - t1).toFixed(1);
      // for tests and benchmarks: when the first picture was drawn, how many frames so far
      this.nDrawn = (this.nDrawn || 0) + 1;
      this.root.dataset.drawn = String(this.nDrawn);
      if (!this.root.dataset.firstDrawnAt) this.root.dataset.firstDrawnAt = String(performance.now());
      // for tests: world -> clip space of this picture, to find where an atom is drawn
      this.root.dataset.viewProj = this.camera.projectionMatrix.clone().multiply(this.camera.matrixWorldInverse).elements.map((x) => x.toPrecision(7)).join(",");
    });
  }

  // ---- trajectories -------------------------------------------------------------------
  // a frame from the kernel, drawn at the next animation frame once its topology is here
  accept(f) {
    f.topo ??= this.topo; // pages saved by save_html have no topology stamps
    if (f.topo > this.topo) { this.waiting = f; return; }
    if (!f.positions || f.positions.length !== 3 * this.n) { f.onApplied?.(); return; } // for other atoms
    if (this.pending?.onApplied && this.pending !== f) this.pending.onApplied(); // replaced: no one waits forever
    if (this.pending?.streamed && f.streamed) this.stream.replaced++; // drawing lags behind the stream
    this.pending = f;
    this.requestRender();
  }

  applyFrame(f) {
    this.pending = null;
    this.positions = f.positions;
    if (f.cell) this.cell = f.cell;
    if (f.colors) { this.colors = f.colors; this.updateColors(); }
    if (f.values) this.values = f.values;
    if (f.vectors) this.drawing.frameVectors = f.vectors; // this frame's arrows, until show_vectors sends others
    this.updateGeometry();
    this.frameSeq = f.seq;
    this.nFrames = (this.nFrames || 0) + 1;
    this.root.dataset.frameSeq = String(f.seq);
    this.root.dataset.framesShown = String(this.nFrames);
    if (f.streamed) this.adaptResolution(performance.now());
    if (f.traj !== undefined && this.traj) {
      this.traj.shown = f.traj;
      if (this.traj.inflight === null && this.traj.wanted === null) {
        this.slider.value = String(f.traj);
        this.frameLabel.textContent = `${f.traj + 1}/${this.traj.n}`;
      }
    }
    f.onApplied?.();
  }

  // a streamed frame is being drawn: lower the resolution a step if the stream lags, raise it
  // a step once it keeps up again; full resolution after the stream pauses (see STREAM_MS)
  adaptResolution(now) {
    const st = this.stream, dt = now - st.last, floor = this.model.get("stream_resolution") ?? 1;
    st.last = now;
    clearTimeout(st.timer);
    st.timer = setTimeout(() => { Object.assign(st, { n: 0, ms: 0, behind: 0, calm: 0 }); this.setResolution(1); }, SHARP_AFTER_MS);
    const lagging = st.replaced > 0;
    st.replaced = 0;
    if (dt > SHARP_AFTER_MS) return; // a stream starts (the pause's timer reset the counters)
    st.ms = st.n ? 0.7 * st.ms + 0.3 * dt : dt; // picture to picture, smoothed
    st.behind = 0.7 * st.behind + 0.3 * (lagging ? 1 : 0); // how often frames were dropped, smoothed
    st.calm = lagging ? 0 : st.calm + 1;
    st.n++;
    if (st.n >= 4 && st.behind > 0.5 && st.ms > 1.1 * STREAM_MS && this.scale > floor) {
      this.setResolution(Math.max(floor, this.scale * STEP), false); // this picture is drawn next
      Object.assign(st, { n: 0, behind: 0 }); // judge the new resolution afresh
    } else if (st.calm >= 15 && this.scale < 1) {
      this.setResolution(Math.min(1, this.scale / STEP), false); // no frame dropped for 15 pictures
      Object.assign(st, { n: 0, calm: 0 });
    }
  }

  setResolution(scale, render = true) {
    if (scale === this.scale) return;
    this.scale = scale;
    this.renderer.setPixelRatio((window.devicePixelRatio || 1) * scale);
    this.root.dataset.resolution = scale.toFixed(3);
    if (render) this.requestRender();
  }

  // frame k of the kernel's trajectory, drawn: resolves once it is applied (movies)
  fetchFrame(k) {
    return new Promise((resolve, reject) => {
      const id = `movie-${this.viewId}-${k}-${Math.random()}`;
      this.waiters.set(id, { resolve, reject });
      this.model.send({ type: "get_frame", id, index: k });
    });
  }

  frameOf(parts, buffers, extra) {
    const f = { cell: null, colors: null, values: null, vectors: null, ...extra };
    parts.forEach((name, k) => { f[name] = f32(buffers[k]); });
    return f;
  }

  onCustom(msg, buffers) {
    if (msg.type === "frame") {
      // latest wins: frames arriving faster than the screen refreshes are dropped
      this.accept(this.frameOf(msg.parts, buffers, { seq: msg.seq, topo: msg.topo, streamed: true }));
    } else if (msg.type === "trajectory") {
      // a trajectory kept in the kernel: frames come one at a time, on request
      if (this.startTrajectory(msg.n_frames)) this.showTrajFrame(msg.index, msg.parts, buffers, msg.topo);
    } else if (msg.type === "reply" && this.waiters.has(msg.id)) {
      const { resolve, reject } = this.waiters.get(msg.id);
      this.waiters.delete(msg.id);
      if (msg.error) reject(new Error(msg.error));
      else this.accept(this.frameOf(msg.result.parts, buffers, { seq: msg.result.index, topo: msg.result.topo, onApplied: resolve }));
    } else if (msg.type === "export") {
      exportView(this, msg);
    } else if (msg.type === "reply") {
      const T = this.traj;
      if (!T || msg.id !== T.inflight) return; // an answer for a trajectory since replaced
      T.inflight = null;
      if (msg.error) this.frameLabel.textContent = `error: ${msg.error}`;
      else this.showTrajFrame(msg.result.index, msg.result.parts, buffers, msg.result.topo);
      if (T.wanted !== null) { const k = T.wanted; T.wanted = null; this.requestFrame(k); }
    } else if (msg.type === "clear_vectors") {
      this.drawing.frameVectors = null;
      this.later("update");
    } else if (msg.type === "fit") {
      this.fit();
    }
  }

  // a trajectory of n frames kept in the kernel (n = 0: none); returns whether there is one
  startTrajectory(n) {
    this.stopPlaying();
    // ids start at random: every view of this model sees every reply, and takes only its own
    const nextId = Math.floor(Math.random() * 2 ** 30);
    this.traj = n ? { n, shown: -1, inflight: null, wanted: null, nextId } : null;
    this.trajBar.style.display = this.traj ? "flex" : "none";
    if (this.traj) this.slider.max = String(n - 1);
    return this.traj !== null;
  }

  // one request in flight at most; a newer slider position replaces a waiting one
  requestFrame(k) {
    const T = this.traj;
    if (!T) return;
    this.slider.value = String(k);
    this.frameLabel.textContent = `${k + 1}/${T.n}`;
    if (T.inflight !== null) { T.wanted = k; return; }
    T.inflight = T.nextId++;
    this.model.send({ type: "get_frame", id: T.inflight, index: k });
  }

  showTrajFrame(k, parts, buffers, topo) {
    this.accept(this.frameOf(parts, buffers, { seq: k, topo, traj: k }));
  }

  stopPlaying() {
    if (this.playTimer) { clearInterval(this.playTimer); this.playTimer = null; this.playButton.textContent = "▶"; }
  }

  // ---- interaction ----------------------------------------------------------------------
  pick(event) {
    // the site under the pointer (an atom at a cell shift), or null
    const rect = this.renderer.domElement.getBoundingClientRect();
    const ndc = new Vector2(((event.clientX - rect.left) / rect.width) * 2 - 1, -((event.clientY - rect.top) / rect.height) * 2 + 1);
    this.raycaster.setFromCamera(ndc, this.camera);
    return this.drawing.pick(this.raycaster);
  }

  bindPointer() {
    const canvas = this.renderer.domElement;
    let down = null;
    this.onDown = (e) => { down = [e.clientX, e.clientY]; };
    this.onUp = (e) => {
      if (!down || Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 4) return; // a drag, not a click
      const site = this.pick(e);
      // the clicked image goes with each atom, so measurements use the atoms as seen
      const atom = site === null ? null : this.S.atom[site];
      const image = site === null ? null : Array.from(this.S.shift.subarray(3 * site, 3 * site + 3), Math.round);
      let sel = [...this.model.get("selected")], images = [...this.model.get("selected_images")];
      if (images.length !== sel.length) images = sel.map(() => [0, 0, 0]);
      // shift-click toggles this image of the atom: another image of it is another pick (an angle O-Ti-O')
      const k = atom === null ? -1 : sel.findIndex((x, q) => x === atom && images[q].every((v, d) => v === image[d]));
      if (atom === null) { if (!e.shiftKey) { sel = []; images = []; } }
      else if (e.shiftKey && k >= 0) { sel.splice(k, 1); images.splice(k, 1); }
      else if (e.shiftKey) { sel.push(atom); images.push(image); }
      else { sel = [atom]; images = [image]; }
      this.model.set("selected", sel);
      this.model.set("selected_images", images);
      this.model.save_changes();
    };
    this.onMove = (e) => {
      const site = this.pick(e);
      if (site === null) { this.tooltip.style.display = "none"; return; }
      const atom = this.S.atom[site];
      const sym = this.species[String(this.numbers[atom])] || this.numbers[atom];
      let text = `${sym} #${atom}`;
      if (this.values.length === this.n) text += `  ${this.model.get("colorbar")?.label || "value"}: ${this.values[atom].toPrecision(4)}`;
      const rect = this.canvasBox.getBoundingClientRect();
      Object.assign(this.tooltip.style, { display: "block", left: `${e.clientX - rect.left + 12}px`, top: `${e.clientY - rect.top + 12}px` });
      this.tooltip.textContent = text;
    };
    this.onLeave = () => { this.tooltip.style.display = "none"; };
    canvas.addEventListener("pointerdown", this.onDown);
    canvas.addEventListener("pointerup", this.onUp);
    canvas.addEventListener("pointermove", this.onMove);
    canvas.addEventListener("pointerleave", this.onLeave);
  }

  makeToolbar() {
    const bar = h("div", "mw-toolbar");
    bar.style.cssText = "display:flex;gap:6px;align-items:center;padding:2px 0;flex-wrap:wrap;";
    const button = (label, title, fn) => { const b = h("button"); b.textContent = label; b.title = title; b.onclick = fn; bar.appendChild(b); return b; };
    button("Reset view", "fit the structure in view", () => this.fit());
    this.projButton = button("", "switch perspective / orthographic", () => {
      this.model.set("projection", this.model.get("projection") === "perspective" ? "orthographic" : "perspective");
      this.model.save_changes();
    });
    button("PNG", "download a PNG of the view", () => {
      this.renderer.render(this.scene, this.camera);
      this.drawAxes();
      const a = h("a"); a.href = this.renderer.domElement.toDataURL("image/png"); a.download = "structure.png"; a.click();
    });
    const rep = h("span"); rep.textContent = "repeat";
    bar.appendChild(rep);
    this.repeatInputs = [0, 1, 2].map((axis) => {
      const s = h("select");
      for (let k = 1; k <= 4; k++) { const o = h("option"); o.value = o.textContent = String(k); s.appendChild(o); }
      s.onchange = () => { const r = [...this.model.get("repeat")]; r[axis] = Number(s.value); this.model.set("repeat", r); this.model.save_changes(); };
      bar.appendChild(s);
      return s;
    });
    // the display style, as the `style` trait (the kernel validates it)
    this.styleInput = h("select", "mw-style");
    for (const name of STYLES) { const o = h("option"); o.value = o.textContent = name; this.styleInput.appendChild(o); }
    this.styleInput.onchange = () => { this.model.set("style", this.styleInput.value); this.model.save_changes(); };
    bar.appendChild(this.styleInput);
    this.root.appendChild(bar);
    this.syncToolbar();
    return bar;
  }

  syncToolbar() {
    this.projButton.textContent = this.model.get("projection") === "perspective" ? "Orthographic" : "Perspective";
    this.model.get("repeat").forEach((r, k) => { this.repeatInputs[k].value = String(r); });
    this.styleInput.value = this.model.get("style");
  }

  makeTrajectoryBar() {
    const bar = h("div", "mw-traj");
    bar.style.cssText = "display:none;gap:6px;align-items:center;padding:2px 0;";
    const play = h("button"); play.textContent = "▶";
    this.playButton = play;
    this.slider = h("input"); this.slider.type = "range"; this.slider.min = "0"; this.slider.style.flex = "1";
    this.frameLabel = h("span");
    this.slider.oninput = () => this.requestFrame(Number(this.slider.value));
    play.onclick = () => {
      if (this.playTimer) { this.stopPlaying(); return; }
      play.textContent = "⏸";
      // at most 30 frames a second, and never faster than the kernel answers
      this.playTimer = setInterval(() => {
        const T = this.traj;
        if (!T || T.inflight !== null) return;
        this.requestFrame((T.shown + 1) % T.n);
      }, 1000 / 30);
    };
    bar.append(play, this.slider, this.frameLabel);
    this.root.appendChild(bar);
    return bar;
  }

  dispose() {
    cancelAnimationFrame(this.raf);
    clearInterval(this.playTimer);
    clearTimeout(this.stream.timer);
    this.resizeObserver.disconnect();
    this.controls.dispose();
    this.renderer.dispose();
    this.renderer.forceContextLoss?.();
    this.drawing.dispose();
  }
}

// one view of the model in ``el``; returns the cleanup function
export function mount(model, el) {
    const view = new Viewer(model, el);
    const on = (names, fn) => listen(model, names, fn);
    const offs = [
      on("change:positions change:numbers change:cell change:bond_i change:radii change:species change:topology_id", () => view.later("load")),
      on("change:colors change:values change:colorbar change:element_colors", () => {
        view.colors = f32(model.get("colors")); view.values = f32(model.get("values"));
        view.elementColors = f32(model.get("element_colors")); view.updateColors();
        view.tooltip.style.display = "none"; // its text was the old values'; the next pointer move writes the new one
      }),
      // the kernel answers a new repeat with new sites (small cells): refit once they are here
      on("change:repeat", () => { view.later("rebuild", true); view.syncToolbar(); }),
      on("change:site_atom change:site_shift change:site_kind change:site_bonds", () => view.later("rebuild", true)),
      on("change:style change:atom_scale change:bond_scale change:hidden_elements change:outside change:show_bonds", () => { view.later("rebuild"); view.syncToolbar(); }),
      on("change:poly_atom change:poly_shift change:poly_faces change:poly_center change:polyhedra_opacity", () => view.later("rebuild")),
      on("change:projection", () => { view.useCamera(model.get("projection")); view.syncToolbar(); }),
      on("change:selected change:measurements", () => view.updateHighlight()),
      on("change:show_cell change:vector_color change:vector_scale", () => view.later("update")),
      on("change:vectors", () => { view.drawing.frameVectors = null; view.later("update"); }),
      on("change:labels", () => view.requestRender()),
      on("msg:custom", (msg, buffers) => view.onCustom(msg, buffers)),
    ];
    // a view rendered after show_frames (a second view, or display() later) asks for its frame
    if (model.get("traj_frames") > 0 && view.startTrajectory(model.get("traj_frames"))) view.requestFrame(model.get("traj_index"));
    view.root.dataset.ready = "1";
    return () => { offs.forEach((off) => off()); view.dispose(); };
}
