"""StructureView in real JupyterLab + Chromium: pixels, picking, colours, streaming, nglview."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.browser.harness import png_pixels

pytestmark = pytest.mark.browser

SETUP = """
import numpy as np
from matwidgets.widgets.structure_view import StructureView
view = StructureView("NaCl.cif", height=500)
# all atoms grey but atom 5, bright red, to find it on screen
colors = np.full((view.n_atoms, 3), 0.6, dtype="f4"); colors[5] = [1, 0, 0]
view.colors = colors.tobytes()
view
"""


def canvas_png(nb, index=0):
    canvas = nb.page.locator(".mw-sv canvas").nth(index)
    canvas.wait_for(state="visible", timeout=60_000)
    nb.page.wait_for_timeout(300)
    return canvas, png_pixels(canvas.screenshot())


def changed_fraction(nb, before, timeout_ms=15_000):
    """Fraction of canvas pixels that changed, polled until some did (or the time is up)."""
    waited, frac = 0, 0.0
    while waited <= timeout_ms:
        after = canvas_png(nb)[1]
        frac = (np.abs(after.astype(int) - before.astype(int)).sum(axis=2) > 30).mean()
        if frac > 0.01:
            break
        nb.page.wait_for_timeout(300)
        waited += 600
    return frac


def test_render_pick_color_stream(open_notebook):
    nb = open_notebook("view.ipynb", [SETUP])
    canvas, px = canvas_png(nb)
    non_white = (px.sum(axis=2) < 700).mean()
    assert non_white > 0.02, "canvas is blank"

    # click the projected position of atom 5 (the red pixels): inside one of its images'
    # spheres, where a whole neighbourhood is red (its half bonds are red too, but thinner)
    red = (px[..., 0] > 200) & (px[..., 1] < 80) & (px[..., 2] < 80)
    assert red.sum() > 20, "atom 5 not visible"
    inner = red.copy()
    for dy in range(-5, 6):
        for dx in range(-5, 6):
            inner &= np.roll(np.roll(red, dy, axis=0), dx, axis=1)
    ys, xs = np.nonzero(inner)
    k = np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)
    canvas.click(position={"x": float(xs[k]), "y": float(ys[k])})
    assert nb.kernel_until("print(view.selected)", "[5]") == "[5]"
    # shift-click on the same atom again removes it; clicking empty space clears
    canvas.click(position={"x": 3, "y": 3})
    assert nb.kernel_until("print(view.selected)", "[]") == "[]"

    # color_by changes pixel colours
    def saturated(px):
        return (px.max(axis=2).astype(int) - px.min(axis=2) > 60).mean()

    before = saturated(canvas_png(nb)[1])  # grey atoms, one red
    nb.kernel("view.color_by(np.linspace(-1, 1, view.n_atoms), label='test')")
    nb.page.locator(".mw-colorbar").wait_for(state="visible", timeout=10_000)
    nb.page.wait_for_timeout(500)
    # the canvas narrows for the colour bar beside it, so compare colourfulness, not pixels
    assert saturated(canvas_png(nb)[1]) > before + 0.01
    assert "test" in nb.page.locator(".mw-colorbar").inner_text()

    # stream 200 frames: the view ends on the last one
    nb.kernel(
        "pos0 = np.frombuffer(view.positions, dtype='f4').reshape(-1, 3).astype(float)\n"
        "for k in range(200):\n"
        "    view.push_frame(pos0 + 0.002 * k)\n"
    )
    nb.page.wait_for_selector('.mw-sv[data-frame-seq="200"]', timeout=20_000)


def test_repeat_and_trajectory_slider(open_notebook):
    nb = open_notebook("repeat.ipynb", [SETUP])
    _, px1 = canvas_png(nb)
    nb.kernel("view.repeat = [2, 2, 1]")
    assert changed_fraction(nb, px1) > 0.01
    with pytest.raises(AssertionError, match="repeat must be 1-4"):
        nb.kernel("view.repeat = [5, 1, 1]")
    nb.kernel("view.show_frames([pos for pos in np.frombuffer(view.positions, dtype='f4').reshape(1, -1, 3).repeat(10, 0)])")
    nb.page.wait_for_selector(".mw-traj input[type=range]", state="visible", timeout=10_000)
    assert nb.page.locator(".mw-traj span").inner_text() == "1/10"


def test_nglview_renders(open_notebook):
    nb = open_notebook("ngl.ipynb", [SETUP, "ngl = view.to_nglview()\nngl"])
    errors = []
    nb.page.on("console", lambda m: m.type == "error" and "nglview" in m.text and errors.append(m.text))
    # the second cell's output, which holds only the nglview widget
    canvas = nb.page.locator(".jp-Cell").nth(1).locator(".jp-OutputArea-output canvas")
    canvas.wait_for(state="visible", timeout=60_000)
    nb.page.wait_for_timeout(3000)
    px = png_pixels(canvas.screenshot())
    # nglview draws on a black or white background: count pixels unlike the corner
    bg = px[2, 2].astype(int)
    assert (np.abs(px.astype(int) - bg).sum(axis=2) > 60).mean() > 0.005, "nglview canvas is blank"
    assert not errors, errors
    assert nb.page.locator(".jp-Cell").nth(1).locator(".mw-sv").count() == 0


VIEWS = """
import numpy as np
from matwidgets.widgets.structure_view import StructureView
empty = StructureView(height=200)
v1 = StructureView("NaCl.cif", height=400)
v2 = StructureView("NaCl.cif", height=300)
display(empty, v1, v2)
"""


def test_legend_readout_axes_colorbar_and_one_three(open_notebook):
    nb = open_notebook("views.ipynb", [VIEWS])
    views = nb.page.locator(".mw-sv")
    views.nth(2).locator("canvas").wait_for(state="visible", timeout=60_000)
    nb.page.wait_for_timeout(500)
    texts = [t for _, t in nb.console]
    # three views, one three.js; the empty view draws no NaN geometry
    assert not [t for t in texts if "Multiple instances of Three.js" in t], texts
    assert not [t for t in texts if "NaN" in t], texts
    v1 = views.nth(1)
    canvas = v1.locator("canvas")

    def pixels():
        nb.page.wait_for_timeout(400)
        return png_pixels(canvas.screenshot())

    # the camera fits the structure: drawn, not cut at the canvas edges
    px = pixels()
    if os.environ.get("MW_DEBUG_PNG"):
        from PIL import Image
        Image.fromarray(px).save("/tmp/sv_plain.png")
    ys, xs = np.nonzero(px.sum(axis=2) < 740)
    h, w = px.shape[:2]
    assert ys.min() > 2 and xs.min() > 2 and ys.max() < h - 3 and xs.max() < w - 3, "structure cut by the canvas edge"
    assert (ys.max() - ys.min()) > 0.5 * h, "structure far smaller than the view"

    # element legend, and a, b, c labels on the axes inside the view
    assert v1.locator(".mw-legend").inner_text().split() == ["Na", "4", "Cl", "4"]
    labels = v1.locator(".mw-axis-label")
    assert [labels.nth(k).inner_text() for k in range(3)] == ["a", "b", "c"]
    box = canvas.bounding_box()
    for k in range(3):
        lb = labels.nth(k).bounding_box()
        assert lb and box["x"] <= lb["x"] <= box["x"] + box["width"] and box["y"] <= lb["y"] <= box["y"] + box["height"]

    # hovering a legend entry highlights that element's atoms
    before = pixels()
    v1.locator('.mw-legend-item[data-z="11"]').hover()
    assert (np.abs(pixels().astype(int) - before.astype(int)).sum(axis=2) > 30).mean() > 0.005
    nb.page.mouse.move(0, 0)

    # selecting an atom shows its element, index and coordinates
    nb.kernel("v1.selected = [0]")
    readout = v1.locator(".mw-readout")
    readout.wait_for(state="visible", timeout=10_000)
    text = readout.inner_text()
    assert "Na #0" in text and "xyz" in text and "frac" in text and "0.000" in text
    nb.kernel("v1.selected = [0, 4]")
    nb.page.wait_for_function("() => document.querySelectorAll('.mw-readout')[1].textContent.includes('distance')", timeout=10_000)
    nb.kernel("v1.selected = []")

    # colour by value: the colour bar sits beside the canvas, and Cl keeps a green ring
    green = lambda p: ((p[..., 1] > 170) & (p[..., 0] < 110) & (p[..., 2] < 110)).sum()  # noqa: E731
    px = pixels()
    g0 = green(px)
    assert g0 > 200  # Cl in its element colour
    # the tooltip names the atom under the pointer
    g = (px[..., 1] > 170) & (px[..., 0] < 110) & (px[..., 2] < 110)
    r = 6  # a pixel inside a Cl sphere: its whole neighbourhood is green (bonds are thinner)
    inner = np.ones_like(g)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            inner &= np.roll(np.roll(g, dy, axis=0), dx, axis=1)
    ys, xs = np.nonzero(inner)
    k = 0
    box0 = canvas.bounding_box()
    nb.page.mouse.move(box0["x"] + float(xs[k]), box0["y"] + float(ys[k]))
    tooltip = v1.locator(".mw-tooltip")
    tooltip.wait_for(state="visible", timeout=5_000)
    assert tooltip.inner_text().startswith("Cl #")
    nb.kernel("v1.color_by(np.linspace(-1, 1, v1.n_atoms), label='test')")
    tooltip.wait_for(state="hidden", timeout=5_000)  # it showed the old values: gone until the pointer moves
    cb = v1.locator(".mw-colorbar")
    cb.wait_for(state="visible", timeout=10_000)
    nb.page.wait_for_timeout(500)
    cbb, box = cb.bounding_box(), canvas.bounding_box()
    assert cbb["x"] >= box["x"] + box["width"] - 1, (cbb, box)  # beside, not over the atoms
    px = pixels()
    if os.environ.get("MW_DEBUG_PNG"):
        from PIL import Image
        Image.fromarray(px).save("/tmp/sv_colored.png")
    assert 10 < green(px) < g0 / 3, (green(px), g0)  # only the element rings are green now (the value scale has no green)
    # the canvas narrowed for the colour bar; the same vertical field of view keeps offsets from the centre
    box2 = canvas.bounding_box()
    nb.page.mouse.move(box2["x"] + float(xs[k]) - (box0["width"] - box2["width"]) / 2, box2["y"] + float(ys[k]))
    tooltip.wait_for(state="visible", timeout=5_000)
    assert "test:" in tooltip.inner_text() and tooltip.inner_text().startswith("Cl #")  # the element stays named


def test_load_ext_displays_structures_and_trajectories(open_notebook):
    """%load_ext matwidgets: a Structure as the cell's value draws a view; a list of them plays back."""
    cells = [
        "%load_ext matwidgets\nfrom pymatgen.core import Structure\ns = Structure.from_file('NaCl.cif')\ns",
        "frames = [s.copy() for _ in range(3)]\nfor k, f in enumerate(frames):\n    f.translate_sites([0], [0.05 * k, 0, 0])\nframes",
    ]
    nb = open_notebook("load_ext.ipynb", cells)
    nb.page.locator(".mw-sv canvas").nth(1).wait_for(state="visible", timeout=60_000)
    for k in range(2):
        px = canvas_png(nb, k)[1]
        assert (px.sum(axis=2) < 700).mean() > 0.02, f"view {k} is blank"
    # the second view was rendered after show_frames: it asked the kernel for its first frame
    nb.page.wait_for_function("document.querySelectorAll('.mw-traj span')[1]?.textContent === '1/3'", timeout=20_000)
    assert nb.page.locator(".mw-traj").nth(0).is_hidden()
    assert nb.cell_errors() == []


STO = """
import numpy as np
from collections import Counter
from pymatgen.core import Lattice, Structure
from matwidgets.widgets.structure_view import StructureView
sto = Structure.from_spacegroup("Pm-3m", Lattice.cubic(3.905), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]])
view = StructureView(sto, height=450)
colors = np.array([[0, 0, 1], [0.6, 0.6, 0.6], [1, 0, 0], [1, 0, 0], [1, 0, 0]], dtype="f4")  # Sr blue, Ti grey, O red
view.colors = colors.tobytes()
def site_xyz():
    s = view.sites
    return sto.cart_coords[s["atom"]] + s["shift"] @ sto.lattice.matrix
view
"""


TRIAD_PX = 95  # the a/b/c axes and the element legend: the bottom of the canvas


def project(root, xyz, size):
    """Pixel (x, y) of world points [k, 3] in the last picture drawn (its data-view-proj)."""
    m = np.array([float(x) for x in root.get_attribute("data-view-proj").split(",")]).reshape(4, 4).T  # column-major
    clip = np.c_[xyz, np.ones(len(xyz))] @ m.T
    ndc = clip[:, :2] / clip[:, 3:]
    w, h = size
    return np.c_[(ndc[:, 0] + 1) / 2 * w, (1 - ndc[:, 1]) / 2 * h]


def test_boundary_images_outside_neighbours_and_styles(open_notebook):
    """SrTiO3 drawn as chemists expect: 8 Sr on the corners, 6 O on the faces, bonded
    neighbours outside faded; styles and hidden elements change what is drawn."""
    nb = open_notebook("sto.ipynb", [STO])
    root = nb.page.locator(".mw-sv").first
    canvas, px = canvas_png(nb)
    assert nb.kernel("s = view.sites; print(sorted(Counter(sto[a].specie.symbol for a, k in zip(s['atom'], s['kind']) if k == 0).items()))").strip() \
        == "[('O', 6), ('Sr', 8), ('Ti', 1)]"
    n_sites = int(nb.kernel("print(len(view.sites['atom']))"))
    assert root.get_attribute("data-sites") == str(n_sites)  # every site drawn, outside neighbours included
    # the outside O are faded: their colour is red mixed with white, not the red of the O in the box
    faded = (px[..., 0] > 200) & (px[..., 1] > 110) & (px[..., 1] < 190) & (np.abs(px[..., 1].astype(int) - px[..., 2]) < 30)
    assert faded.mean() > 0.002, faded.mean()

    # only Sr: one blue sphere on each of the cube's 8 projected corners, nothing red
    nb.kernel("view.hidden_elements = ['Ti', 'O']")
    nb.page.wait_for_selector('.mw-sv[data-sites="8"]', timeout=10_000)
    _, px = canvas_png(nb)
    corners = np.array(list(np.ndindex(2, 2, 2)), dtype=float) * 3.905
    for x, y in project(root, corners, (px.shape[1], px.shape[0])).round().astype(int):
        patch = px[y - 2 : y + 3, x - 2 : x + 3].astype(int)
        assert (patch[..., 2] - patch[..., 0] > 100).all(), (x, y, patch.mean(axis=(0, 1)))
    top = px[:-TRIAD_PX]  # the legend's swatches and the red a axis are at the bottom
    assert ((top[..., 0] > 200) & (top[..., 1] < 90) & (top[..., 2] < 90)).sum() == 0

    # outside neighbours hidden: the 15 atoms of the box; "small" draws them again
    nb.kernel("view.hidden_elements = []; view.outside = 'hidden'")
    nb.page.wait_for_selector('.mw-sv[data-sites="15"]', timeout=10_000)
    nb.kernel("view.outside = 'small'")
    nb.page.wait_for_selector(f'.mw-sv[data-sites="{n_sites}"]', timeout=10_000)

    # styles: space-filling draws no bonds and bigger atoms; sticks and wireframe draw bonds
    bonds = int(root.get_attribute("data-bonds"))
    assert bonds > 0
    _, before = canvas_png(nb)
    nb.kernel("view.style = 'space-filling'")
    nb.page.wait_for_selector('.mw-sv[data-bonds="0"]', timeout=10_000)
    assert changed_fraction(nb, before) > 0.05
    for style in ["sticks", "wireframe"]:
        nb.kernel(f"view.style = '{style}'")
        nb.page.wait_for_selector(f'.mw-sv[data-bonds="{bonds}"]', timeout=10_000)
    _, px = canvas_png(nb)
    assert 0.005 < (px.sum(axis=2) < 700).mean() < 0.2  # thin lines, mostly background
    with pytest.raises(AssertionError, match="TraitError"):
        nb.kernel("view.style = 'cartoon'")
    assert nb.kernel("print(view.style)").strip() == "wireframe"
    # the toolbar's style menu shows the trait and sets it
    menu = root.locator("select.mw-style")
    assert menu.input_value() == "wireframe"
    menu.select_option("space-filling")
    assert nb.kernel_until("print(view.style)", "space-filling") == "space-filling"


def test_vectors_labels_and_measurements_by_picking(open_notebook):
    nb = open_notebook("sto2.ipynb", [STO + "\nview.outside = 'hidden'\nview.hidden_elements = ['Sr']\nview"])
    root = nb.page.locator(".mw-sv").first
    nb.page.wait_for_selector('.mw-sv[data-sites="7"]', timeout=30_000)  # Ti and 6 O
    canvas, px = canvas_png(nb)

    # arrows: magenta pixels appear on every atom in the box, and go again
    magenta = lambda p: ((p[..., 0] > 150) & (p[..., 2] > 90) & (p[..., 1] < 80)).mean()  # noqa: E731
    assert magenta(px) == 0
    nb.kernel("view.show_vectors(np.tile([0.0, 1.0, 0.3], (5, 1)))")
    nb.page.wait_for_selector('.mw-sv[data-arrows="7"]', timeout=10_000)
    assert magenta(canvas_png(nb)[1]) > 0.002
    with pytest.raises(AssertionError, match=r"ValueError: show_vectors needs an array of shape \(5, 3\), got shape \(2, 3\)"):
        nb.kernel("view.show_vectors(np.zeros((2, 3)))")
    nb.kernel("view.hide_vectors()")
    nb.page.wait_for_selector('.mw-sv[data-arrows="0"]', timeout=10_000)
    # a streamed frame brings its own arrows (forces during MD); show_vectors(None) clears them
    nb.kernel("view.push_frame(sto.cart_coords, vectors=np.tile([0.0, 0.0, 1.0], (5, 1))); view.flush()")
    nb.page.wait_for_selector('.mw-sv[data-arrows="7"]', timeout=10_000)
    nb.kernel("view.hide_vectors()")
    nb.page.wait_for_selector('.mw-sv[data-arrows="0"]', timeout=10_000)

    # labels: one per drawn atom, its index
    nb.kernel("view.labels = 'index'")
    nb.page.wait_for_function("document.querySelectorAll('.mw-label').length === 7", timeout=10_000)
    assert sorted(nb.page.locator(".mw-label").all_inner_texts()) == sorted(["1", "2", "2", "3", "3", "4", "4"])
    nb.kernel("view.labels = 'none'")

    # pick O 2 at y = 0, Ti, then O 2's image at y = 1: the angle is 180 degrees because
    # the picked images count (the nearest image of O 2 would be ambiguous)
    xyz = np.array(eval(nb.kernel("print(site_xyz().tolist())")))
    atoms = [int(a) for a in nb.kernel("print(view.sites['atom'].tolist())").strip()[1:-1].split(",")]
    targets = [next(k for k, a in enumerate(atoms) if a == 2 and xyz[k, 1] < 1), atoms.index(1),
               next(k for k, a in enumerate(atoms) if a == 2 and xyz[k, 1] > 3)]
    _, px = canvas_png(nb)
    pts = project(root, xyz[targets], (px.shape[1], px.shape[0]))
    canvas.click(position={"x": float(pts[0, 0]), "y": float(pts[0, 1])})
    assert nb.kernel_until("print(view.selected)", "[2]") == "[2]"
    canvas.click(position={"x": float(pts[1, 0]), "y": float(pts[1, 1])}, modifiers=["Shift"])
    assert nb.kernel_until("print(view.selected)", "[2, 1]") == "[2, 1]"
    assert abs(float(nb.kernel("print(view.measurements['distance'])")) - 3.905 / 2) < 1e-4
    nb.page.wait_for_function("document.querySelector('.mw-readout').textContent.includes('distance #2-#1: 1.95')", timeout=10_000)
    canvas.click(position={"x": float(pts[2, 0]), "y": float(pts[2, 1])}, modifiers=["Shift"])
    assert nb.kernel_until("print(view.selected, view.selected_images)", "[2, 1, 2] [[0, 0, 0], [0, 0, 0], [0, 1, 0]]") \
        == "[2, 1, 2] [[0, 0, 0], [0, 0, 0], [0, 1, 0]]"
    assert abs(float(nb.kernel("print(view.measurements['angle'])")) - 180) < 1e-3
    nb.page.wait_for_function("document.querySelector('.mw-readout').textContent.includes('angle #2-#1-#2: 180.00')", timeout=10_000)
    assert nb.cell_errors() == []


def test_polyhedra_drawn_and_moved_by_frames(open_notebook):
    nb = open_notebook("sto3.ipynb", [STO + "\nc = colors.copy(); c[1] = [0, 0.8, 0]; view.colors = c.tobytes()\nview.outside = 'hidden'\nview"])
    nb.page.wait_for_selector('.mw-sv[data-sites="15"]', timeout=30_000)
    green = lambda p: ((p[..., 1].astype(int) - p[..., 0] > 50) & (p[..., 1].astype(int) - p[..., 2] > 50)).sum()  # noqa: E731
    _, px = canvas_png(nb)
    g0 = green(px[:-TRIAD_PX])  # the green Ti sphere inside the cage
    nb.kernel("view.show_polyhedra('Ti')")
    nb.page.wait_for_selector('.mw-sv[data-poly-faces="8"]', timeout=10_000)
    _, px = canvas_png(nb)
    assert green(px[:-TRIAD_PX]) > 2 * g0 + 500, (green(px[:-TRIAD_PX]), g0)  # the translucent octahedron in Ti's colour
    # a streamed frame moves the octahedron's vertices with the O atoms
    nb.kernel("p = sto.cart_coords.copy(); p[2:] += [0.6, 0, 0]; view.push_frame(p); view.flush()")
    nb.page.wait_for_selector('.mw-sv[data-frame-seq="1"]', timeout=10_000)
    assert changed_fraction(nb, px) > 0.01
    nb.kernel("view.show_polyhedra(None)")
    nb.page.wait_for_selector('.mw-sv[data-poly-faces="0"]', timeout=10_000)
    assert nb.cell_errors() == []
