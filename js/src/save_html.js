// Offline pages written by matwidgets' save_html(): widget state baked into the page, no
// kernel, no network. Each anywidget view gets a StaticModel over its saved state, and its
// own ES module, inlined in the page, is imported from a blob: URL.

import { StaticModel } from "./lib/static_model.js";

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
