// Offline pages written by matwidgets' save_html(): widget state baked into the page, no
// kernel, no network. Each anywidget view gets a stand-in for anywidget's model (get, set,
// on, off, save_changes, send) over its saved state, and its own ES module, inlined in the
// page, is imported from a blob: URL. A trajectory's frames are answered from the page.

function dataView(base64) {
  const bin = atob(base64);
  const bytes = new Uint8Array(bin.length);
  for (let k = 0; k < bin.length; k++) bytes[k] = bin.charCodeAt(k);
  return new DataView(bytes.buffer);
}

class StaticModel {
  constructor(spec) {
    this.state = { ...spec.state };
    for (const name of spec.binary) this.state[name] = dataView(spec.state[name]);
    this.frames = (spec.frames || []).map((f) => ({ parts: f.parts, buffers: f.buffers.map(dataView) }));
    this.listeners = new Map();
  }

  get(name) { return this.state[name]; }

  set(name, value) {
    this.state[name] = value;
    this.emit(`change:${name}`);
  }

  save_changes() {}

  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
  }

  off(name, fn) { this.listeners.get(name)?.delete(fn); }

  emit(name, ...args) { this.listeners.get(name)?.forEach((fn) => fn(...args)); }

  // the only request our views make of the kernel: a trajectory frame, kept in the page here
  send(msg) {
    if (msg?.type !== "get_frame") return;
    const f = this.frames[msg.index];
    const reply = f
      ? { type: "reply", id: msg.id, result: { index: msg.index, parts: f.parts } }
      : { type: "reply", id: msg.id, error: `frame ${msg.index} was not saved in this page` };
    setTimeout(() => this.emit("msg:custom", reply, f ? f.buffers : []), 0);
  }
}

const modules = new Map();

function importInlined(id) {
  if (!modules.has(id)) {
    const source = document.getElementById(id).textContent;
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    modules.set(id, import(url));
  }
  return modules.get(id);
}

async function mountAll() {
  for (const node of document.querySelectorAll("script[type='application/x-matwidgets-view']")) {
    const spec = JSON.parse(node.textContent);
    const el = document.getElementById(spec.el);
    try {
      const mod = await importInlined(spec.esm);
      await mod.default.render({ model: new StaticModel(spec), el });
    } catch (err) {
      el.textContent = `could not draw this view: ${err}`;
    }
  }
  for (const node of document.querySelectorAll("script[type='application/x-matwidgets-plot']")) {
    const spec = JSON.parse(node.textContent);
    const fig = spec.figure;
    window.Plotly.newPlot(document.getElementById(spec.el), fig.data, fig.layout, { responsive: true, displaylogo: false });
  }
  document.body.dataset.mounted = "1";
}

mountAll();
