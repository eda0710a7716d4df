// Labels next to atoms: element, index or the value shown by color_by. HTML over the
// canvas, placed after each render at the atoms' projected positions (the first
// MAX_LABELS visible sites: beyond that they only cover each other).
import { Vector3 } from "three";
import { el as h } from "./buffers.js";

const MAX_LABELS = 400;

export class Labels {
  constructor(box) {
    this.layer = h("div", "mw-labels");
    this.layer.style.cssText = "position:absolute;inset:0;pointer-events:none;z-index:1;overflow:hidden;";
    box.appendChild(this.layer);
    this.items = [];
  }

  // after a render: mode from the `labels` trait; site positions [3m] and the sites drawn
  draw(mode, view, P, shown) {
    if (mode === "none") { this.layer.style.display = "none"; return; }
    this.layer.style.display = "block";
    const w = view.canvasBox.clientWidth, hgt = view.canvasBox.clientHeight, v = new Vector3();
    let k = 0;
    for (const s of shown) {
      if (k >= MAX_LABELS) break;
      const a = view.S.atom[s];
      const text = mode === "element" ? view.species[String(view.numbers[a])] || String(view.numbers[a])
        : mode === "index" ? String(a)
          : view.values.length === view.n ? view.values[a].toPrecision(3) : "";
      v.set(P[3 * s], P[3 * s + 1], P[3 * s + 2]).project(view.camera);
      if (v.z > 1) continue; // behind the camera
      const d = this.items[k] || this.layer.appendChild(Object.assign(h("span", "mw-label"), {}));
      this.items[k] = d;
      d.textContent = text;
      d.style.cssText = "position:absolute;font:bold 12px sans-serif;color:#111;text-shadow:0 0 2px #fff,0 0 2px #fff;"
        + `transform:translate(-50%,-50%);left:${((v.x + 1) / 2) * w}px;top:${((1 - v.y) / 2) * hgt}px;`;
      k++;
    }
    for (const d of this.items.splice(k)) d.remove();
  }
}
