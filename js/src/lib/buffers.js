// Helpers shared by all widgets: typed views on binary traits, DOM elements.

// Binary traits arrive as DataView (or ArrayBuffer); copy so the typed array is aligned.
function bytesOf(data) {
  if (!data) return new ArrayBuffer(0);
  if (data instanceof ArrayBuffer) return data;
  return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
}

export const f32 = (data) => new Float32Array(bytesOf(data));
export const i32 = (data) => new Int32Array(bytesOf(data));

export function el(tag, className) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  return e;
}

// model.on with space-separated event names; returns the function that removes them
export function listen(model, names, fn) {
  const list = names.split(/\s+/).filter(Boolean);
  list.forEach((name) => model.on(name, fn));
  return () => list.forEach((name) => model.off(name, fn));
}
