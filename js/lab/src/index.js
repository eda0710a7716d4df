// JupyterLab 4 extension: double-click a structure file (CIF, POSCAR/CONTCAR/.vasp,
// .xyz/.extxyz, ASE .traj) in the file browser and it opens in a viewer tab.
//
// The file is parsed in the kernel-less Jupyter server by our server extension
// (matwidgets/server, pymatgen and ASE readers) and drawn by the same three.js renderer
// as StructureView (js/src/lib/viewer3d.js), over a StaticModel of the state it returns.
import { ABCWidgetFactory, DocumentWidget } from "@jupyterlab/docregistry";
import { ServerConnection } from "@jupyterlab/services";
import { URLExt } from "@jupyterlab/coreutils";
import { Widget } from "@lumino/widgets";

import { StaticModel } from "../../src/lib/static_model.js";

const FACTORY = "matwidgets structure viewer";
const FILE_TYPES = [
  { name: "mw-cif", displayName: "CIF structure", extensions: [".cif"], mimeTypes: ["chemical/x-cif"] },
  // VASP files often have no extension: POSCAR, CONTCAR, POSCAR_relaxed, ...
  { name: "mw-vasp", displayName: "VASP structure", extensions: [".vasp", ".poscar"], pattern: "^(POSCAR|CONTCAR)([._-].*)?$", mimeTypes: ["text/plain"] },
  { name: "mw-xyz", displayName: "XYZ structure", extensions: [".xyz", ".extxyz"], mimeTypes: ["chemical/x-xyz"] },
  { name: "mw-traj", displayName: "ASE trajectory", extensions: [".traj"], mimeTypes: ["application/octet-stream"], fileFormat: "base64" },
];

function message(el, text, isError) {
  el.textContent = "";
  const p = document.createElement("pre");
  p.className = isError ? "mw-viewer-error" : "mw-viewer-note";
  p.style.cssText = `white-space:pre-wrap;padding:12px;${isError ? "color:#b00020;" : ""}`;
  p.textContent = text;
  el.appendChild(p);
  return p;
}

class StructurePanel extends Widget {
  constructor(path) {
    super();
    this.addClass("mw-structure-file");
    this.node.style.overflow = "auto";
    this.path = path;
    this.cleanup = null;
    this.load(false);
  }

  async load(force) {
    const settings = ServerConnection.makeSettings();
    const url = URLExt.join(settings.baseUrl, "matwidgets", "structure") +
      `?path=${encodeURIComponent(this.path)}${force ? "&force=1" : ""}`;
    message(this.node, `reading ${this.path} …`, false);
    let body;
    try {
      const response = await ServerConnection.makeRequest(url, {}, settings);
      body = await response.json();
      if (response.status === 413 && body.too_large) {
        const note = message(this.node, `${body.error}.`, false);
        const button = document.createElement("button");
        button.textContent = `Render all ${body.n_atoms.toLocaleString()} atoms`;
        button.onclick = () => this.load(true);
        note.after(button);
        return;
      }
      if (!response.ok) throw new Error(body.error || body.message || `HTTP ${response.status}`);
    } catch (err) {
      message(this.node, `${this.path} could not be read:\n${err.message || err}`, true);
      return;
    }
    this.node.textContent = "";
    this.node.dataset.nAtoms = String(body.n_atoms);
    const { mount } = await import("../../src/lib/viewer3d.js");
    this.cleanup?.();
    this.cleanup = mount(new StaticModel(body), this.node);
  }

  dispose() {
    this.cleanup?.();
    this.cleanup = null;
    super.dispose();
  }
}

class StructureFactory extends ABCWidgetFactory {
  createNewWidget(context) {
    const content = new StructurePanel(context.path);
    const widget = new DocumentWidget({ content, context });
    widget.title.label = context.path.split("/").pop();
    return widget;
  }
}

const plugin = {
  id: "matwidgets-lab:structure-viewer",
  description: "Opens structure files in a matwidgets 3D viewer tab",
  autoStart: true,
  activate: (app) => {
    for (const ft of FILE_TYPES) app.docRegistry.addFileType(ft);
    const factory = new StructureFactory({
      name: FACTORY,
      label: "Structure viewer",
      fileTypes: FILE_TYPES.map((ft) => ft.name),
      defaultFor: FILE_TYPES.map((ft) => ft.name),
      readOnly: true,
    });
    app.docRegistry.addWidgetFactory(factory);
  },
};

export default plugin;
