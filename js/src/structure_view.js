// StructureView: a 3D crystal view (the viewer itself is in lib/viewer3d.js).
//
// anywidget evaluates this module once per widget model, so a page with several views
// would evaluate three.js several times ("Multiple instances of Three.js being
// imported") and keep several copies. The viewer module is imported lazily and the
// promise kept on globalThis under a registered symbol: three.js is evaluated once per
// page and every later view reuses it (no CDN, no named window global).
const VIEWER = Symbol.for("matwidgets.structure_view.viewer3d");

function viewerModule() {
  globalThis[VIEWER] ??= import("./lib/viewer3d.js");
  return globalThis[VIEWER];
}

export default {
  async render({ model, el }) {
    const { mount } = await viewerModule();
    return mount(model, el);
  },
};
