// PeriodicTable: a clickable periodic table; writes the chosen symbol to `selected`.
import { el as h, listen } from "./lib/buffers.js";

export default {
  render({ model, el }) {
    const grid = h("div", "mw-ptable");
    grid.style.cssText = "display:grid;grid-template-columns:repeat(18,26px);grid-auto-rows:24px;gap:2px;font:11px sans-serif;user-select:none;";
    const buttons = new Map();
    for (const [symbol, z, row, col] of model.get("elements")) {
      const b = h("div", "mw-element");
      b.textContent = symbol;
      b.title = `${symbol} (Z=${z})`;
      b.dataset.symbol = symbol;
      b.style.cssText = `grid-row:${row};grid-column:${col};display:flex;align-items:center;justify-content:center;border:1px solid #bbb;border-radius:3px;cursor:pointer;`;
      b.onclick = () => { model.set("selected", symbol); model.save_changes(); };
      buttons.set(symbol, b);
      grid.appendChild(b);
    }
    const paint = () => {
      const sel = model.get("selected"), present = new Set(model.get("highlight"));
      for (const [symbol, b] of buttons) {
        b.style.background = symbol === sel ? "#1f77b4" : present.has(symbol) ? "#ffe8a8" : "#f7f7f7";
        b.style.color = symbol === sel ? "#fff" : "#222";
      }
    };
    paint();
    el.appendChild(grid);
    return listen(model, "change:selected change:highlight", paint);
  },
};
