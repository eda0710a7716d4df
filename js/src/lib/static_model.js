// A stand-in for anywidget's model over saved state, for views drawn without a kernel:
// pages written by save_html() and JupyterLab's structure file viewer. get, set, on, off,
// save_changes and send work as a view expects; binary traits arrive base64-encoded; a
// trajectory's frames are answered from the saved frames.

function dataView(base64) {
  const bin = atob(base64);
  const bytes = new Uint8Array(bin.length);
  for (let k = 0; k < bin.length; k++) bytes[k] = bin.charCodeAt(k);
  return new DataView(bytes.buffer);
}

export class StaticModel {
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
