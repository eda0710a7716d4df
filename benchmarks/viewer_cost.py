"""Where a StructureView picture's time goes under SwiftShader: one 1,000-atom Si view, its
atoms and bonds drawn alone, with the real shaders and with variants that change one thing.

Timings on this 2-core machine drift by 2x over minutes, so every variant is timed in the
same page, interleaved picture by picture (render + a 1-pixel readPixels that waits for the
picture), and the medians of each round are printed side by side.

Run: python benchmarks/viewer_cost.py [rounds] [variants.json]   (a JSON list like VARIANTS below)

Measured 2026-12-03 (median of 40 pictures a round, three rounds, 768x420 canvas; ranges
over the rounds; the shaders as committed, with the fast sRGB output):
  nothing drawn (clear, cell lines)                         1.4-1.7 ms
  atoms (1,000 impostor spheres, 102k quad pixels)   7.2-9.1 ms
    fragment shader reduced to a flat colour         8.1-10.4 (slower: no pixel is discarded)
    three's exact sRGB output (pow)                  9.0-10.8 (what the fast fit saves: ~18%)
    no sRGB output conversion at all                 7.5-9.1 (the fast fit costs nothing measurable)
    quads of half the area (x0.7 each way)           5.1-7.1 (-22 to -29%)
    quads of 1/16 the area                           3.3-4.3
  bonds (2,285 cylinders, 57k quad pixels)           11.0-14.1 ms
    fragment shader reduced to a flat colour         11.9-15.4
    three's exact sRGB output (pow)                  12.7-15.5 (~10%)
    one triangle of the two (half the pixels)        8.4-10.5 (-25%)
    quad ends cut to the cylinder's tilt             10.8-13.6 (-3 to -5%)
The quads cover half the canvas (little overdraw). What costs is each covered pixel and each
primitive in SwiftShader's fixed stages (raster, interpolation, depth and colour writes), not
the ray casting, which costs nothing measurable: a tighter quad saves a few per cent. (Quad pixels:
a JS replica of the vertex shaders' quads for this camera, not part of this script: 159k of the canvas's 323k pixels.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.viewer import SETUP, add_cell_and_run  # noqa: E402
from tests.browser.harness import NotebookPage, lab_and_browser  # noqa: E402

FLAT_SPHERE = ["  vec3 d = ortho == 1", "  if (back == 0) { writeDepthZ(vQuad.z); gl_FragColor = vec4(vColor, 1.0); return; }\n  vec3 d = ortho == 1"]
FLAT_BOND = ["  float A = dot(vD.yz, vD.yz), B", "  if (vCap > -1.0) { writeDepthZ(vZ.x); gl_FragColor = vec4(vColor, 1.0); return; }\n  float A = dot(vD.yz, vD.yz), B"]
TILT_ENDS = ["vec3 e = q.x < 0.0 ? a - up * along * R : b + up * along * R;",
             "float ext = R * abs(dot(axis, toEye)) / max(len, 1e-9);\n  vec3 e = q.x < 0.0 ? a - up * along * ext : b + up * along * ext;"]
EXACT_OUT = "vec4 outputTexel(vec4 c) {"
EXACT_OUT_BY_THREE = EXACT_OUT + " if (true) return linearToOutputTexel(c);"  # pow per channel
NO_OUT = EXACT_OUT + " if (true) return c;"
# {name, kind: "none" | "atoms" | "bonds", vs / fs: [[text, replacement], ...]}: shader variants
VARIANTS = [
    {"name": "nothing drawn", "kind": "none"},
    {"name": "atoms", "kind": "atoms"},
    {"name": "atoms, flat-colour fragment shader", "kind": "atoms", "fs": [FLAT_SPHERE]},
    {"name": "atoms, three's exact sRGB output", "kind": "atoms", "fs": [[EXACT_OUT, EXACT_OUT_BY_THREE]]},
    {"name": "atoms, no sRGB output conversion", "kind": "atoms", "fs": [[EXACT_OUT, NO_OUT]]},
    {"name": "atoms, quads x0.7", "kind": "atoms", "vs": [["radius * k * 1.02", "radius * k * 0.714"]]},
    {"name": "atoms, quads x0.25", "kind": "atoms", "vs": [["radius * k * 1.02", "radius * k * 0.255"]]},
    {"name": "bonds", "kind": "bonds"},
    {"name": "bonds, flat-colour fragment shader", "kind": "bonds", "fs": [FLAT_BOND]},
    {"name": "bonds, three's exact sRGB output", "kind": "bonds", "fs": [[EXACT_OUT, EXACT_OUT_BY_THREE]]},
    {"name": "bonds, one triangle of two", "kind": "bonds", "vs": [["vec2 q = corner(gl_VertexID % 4);", "vec2 q = corner(gl_VertexID % 4 == 3 ? 2 : gl_VertexID % 4);"]]},
    {"name": "bonds, quad ends cut to the tilt", "kind": "bonds", "vs": [TILT_ENDS]},
]

TIME = """([variants, reps]) => {
  const v = document.querySelector(".mw-sv").viewer, r = v.renderer, gl = r.getContext(), px = new Uint8Array(4), d = v.drawing;
  const imps = { atoms: d.atoms, bonds: d.bonds };
  const variant = (x) => {
    if (x.kind === "none") return [null, null];
    const imp = imps[x.kind], m = imp.material.clone();
    for (const [a, b] of x.vs || []) { if (!m.vertexShader.includes(a)) throw new Error("not in the vertex shader: " + a); m.vertexShader = m.vertexShader.replace(a, b); }
    for (const [a, b] of x.fs || []) { if (!m.fragmentShader.includes(a)) throw new Error("not in the fragment shader: " + a); m.fragmentShader = m.fragmentShader.replace(a, b); }
    m.uniforms = imp.material.uniforms; // the camera and light that setView keeps up to date
    m.onBeforeCompile = imp.material.onBeforeCompile; // its output encoding (clone() leaves it out)
    return [imp, m];
  };
  const mats = variants.map(variant), times = variants.map(() => []);
  const keep = [d.atoms.mesh.material, d.bonds.mesh.material, d.atoms.mesh.visible, d.bonds.mesh.visible];
  for (let i = 0; i <= reps; i++) for (let k = 0; k < mats.length; k++) {
    const [imp, m] = mats[k];
    d.atoms.mesh.visible = imp === d.atoms; d.bonds.mesh.visible = imp === d.bonds;
    if (imp) imp.mesh.material = m;
    const t0 = performance.now();
    r.render(v.scene, v.camera);
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
    if (i > 0) times[k].push(performance.now() - t0); // the first compiles the variant's program
  }
  [d.atoms.mesh.material, d.bonds.mesh.material, d.atoms.mesh.visible, d.bonds.mesh.visible] = keep;
  r.render(v.scene, v.camera);
  return times.map((t) => t.sort((a, b) => a - b)[t.length >> 1]);
}"""


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    variants = json.loads(Path(sys.argv[2]).read_text()) if len(sys.argv) > 2 else VARIANTS
    with lab_and_browser() as (lab, browser):
        lab.write_notebook("cost.ipynb", [SETUP])
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        nb = NotebookPage(lab, page, "cost.ipynb")
        nb.run_all()
        add_cell_and_run(nb, "view = mw.StructureView(si.make_supercell(supercells[1000], in_place=False))\nview")
        page.wait_for_function("document.querySelector('.mw-sv[data-first-drawn-at]')?.viewer", timeout=120_000)
        page.wait_for_timeout(1500)
        info = page.evaluate("() => { const v = document.querySelector('.mw-sv').viewer; return [v.canvasBox.clientWidth, v.canvasBox.clientHeight, v.drawing.atoms.count, v.drawing.bonds.count]; }")
        print("canvas {}x{}, {} atoms, {} bond cylinders; median ms per picture, one column per round".format(*info))
        medians = [page.evaluate(TIME, [variants, 40]) for _ in range(rounds)]
        for k, x in enumerate(variants):
            print(f"  {x['name']:<40}" + "".join(f"{m[k]:8.1f}" for m in medians), flush=True)
        print(json.dumps({"variants": [x["name"] for x in variants], "medians_ms": medians}))


if __name__ == "__main__":
    main()
