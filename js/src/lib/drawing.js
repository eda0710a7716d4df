// The atoms, bonds, element rings, highlights and arrows of a StructureView, drawn
// from its sites (lib/sites.js). Atoms, rings and bonds are impostors (lib/impostors.js:
// a quad each, ray-cast per pixel; a bond between two drawn atoms is one cylinder): one
// draw call per kind, and a streamed frame only
// rewrites the instance attributes (no geometry or material is rebuilt).
import { DynamicDrawUsage, InstancedMesh, Matrix4, MeshPhongMaterial, SphereGeometry } from "three";
import { buildSites, place, siteLooks, sitePositions } from "./sites.js";
import { Cylinders, Spheres, cylinderMaterial, put, sphereMaterial } from "./impostors.js";
import { Polyhedra } from "./polyhedra.js";
import { Arrows } from "./vectors.js";

const RING = 1.14; // element-coloured outline around value-coloured atoms, relative to the atom radius
const HIGHLIGHT = 1.35;

export class Drawing {
  constructor(scene, light) {
    this.scene = scene;
    this.light = light; // the impostors' shading follows the scene's directional light
    this.highlightMaterial = new MeshPhongMaterial({ color: 0xffd400, transparent: true, opacity: 0.45, depthWrite: false });
    // kept across rebuilds (lib/impostors.js: a new material compiles its shaders again)
    this.materials = { atoms: sphereMaterial(), rings: sphereMaterial({ back: true, unlit: true }), bonds: cylinderMaterial() };
    this.arrows = new Arrows(scene);
    this.polyhedra = new Polyhedra(scene);
    this.meshes = [];
  }

  // after the structure, the sites or the style changed: sites, looks, meshes
  rebuild(v) {
    for (const obj of this.meshes) { this.scene.remove(obj); obj.geometry.dispose(); }
    for (const imp of [this.atoms, this.rings, this.bonds]) imp?.dispose();
    const S = buildSites(v.model, v.n, v.bondI, v.bondJ, v.bondShift);
    const looks = siteLooks(v.model, S, v.numbers, v.radii, v.species);
    // instance k of the atom meshes is site shown[k]; hidden sites get no instance (never picked)
    const shown = Int32Array.from(S.atom.keys()).filter((s) => looks.visible[s]);
    // a half bond is drawn from a visible site towards an atom that is not hidden
    const halves = looks.bondRadius && v.model.get("show_bonds")
      ? Int32Array.from(S.hFrom.keys()).filter((h) => looks.visible[S.hFrom[h]] && !looks.hiddenZ.has(v.numbers[S.hToAtom[h]]))
      : new Int32Array(0);
    // two halves that meet (both ends are drawn sites) are one cylinder in two colours, drawn
    // with the half from the lower site; a half whose partner is not drawn ends at the cell
    // face, where its cap shows. partner[k]: the site at the far end of cylinder k, or -1
    const meets = (h) => { const t = S.hToSite[h]; return t >= 0 && looks.visible[t] && !looks.hiddenZ.has(v.numbers[S.atom[S.hFrom[h]]]); };
    const sticks = halves.filter((h) => !meets(h) || S.hFrom[h] < S.hToSite[h]);
    const partner = Int32Array.from(sticks, (h) => (meets(h) ? S.hToSite[h] : -1));
    Object.assign(this, { S, looks, shown, halves, sticks, partner });
    this.atoms = new Spheres(shown.length, this.materials.atoms);
    this.bonds = new Cylinders(sticks.length, this.materials.bonds);
    // the far side of slightly larger spheres in the element's colour, unlit: a ring that
    // keeps the element visible when atoms are coloured by a value (shown only then)
    this.rings = new Spheres(shown.length, this.materials.rings);
    for (const imp of [this.atoms, this.rings, this.bonds]) imp.mesh.onBeforeRender = (r, s, camera) => imp.setView(camera, this.light);
    // a few selected atoms (or one element's, while the legend is hovered): translucent, so meshes
    this.highlight = new InstancedMesh(new SphereGeometry(1, 16, 12), this.highlightMaterial, Math.max(1, shown.length));
    this.highlight.instanceMatrix.setUsage(DynamicDrawUsage);
    this.meshes = [this.atoms.mesh, this.bonds.mesh, this.highlight, this.rings.mesh];
    this.polyhedra.rebuild(v.model, v.n);
    this.scene.add(...this.meshes);
  }

  // site positions of the current frame [3m], and every instance matrix
  update(v) {
    const { S, looks, shown, sticks, partner } = this, p = v.positions, c = v.cell;
    const P = (this.P = sitePositions(S, p, c));
    const { position: ac, radius: ar } = this.atoms.arrays, { position: rc, radius: rr } = this.rings.arrays;
    const rings = this.rings.mesh.visible; // only under color_by
    shown.forEach((site, k) => {
      const r = looks.radius[site], x = P[3 * site], y = P[3 * site + 1], z = P[3 * site + 2];
      put(ac, 3, k, x, y, z);
      put(ar, 1, k, r);
      if (rings) { put(rc, 3, k, x, y, z); put(rr, 1, k, r * RING); }
    });
    this.atoms.count = this.rings.count = shown.length;
    // bonds between two drawn sites: from one atom's surface to the other's, the colour
    // changing halfway; half bonds: from a site halfway to the partner it bonds to, so a
    // bond to an atom that is not drawn ends at the cell face instead of stretching across
    // the cell. Each starts (and ends) just inside its atom: no pixels shaded inside it
    const to = new Float32Array(3), rb = looks.bondRadius;
    const { position: start, end, radius: br, split, cap } = this.bonds.arrays;
    const inside = (site, len) => { const r = looks.radius[site]; return Math.min(0.97 * Math.sqrt(Math.max(r * r - rb * rb, 0)) / len, 0.95); };
    sticks.forEach((h, k) => {
      const from = S.hFrom[h], t = partner[k], x = P[3 * from], y = P[3 * from + 1], z = P[3 * from + 2];
      if (t >= 0) { to[0] = P[3 * t]; to[1] = P[3 * t + 1]; to[2] = P[3 * t + 2]; } else place(to, 0, p, S.hToAtom[h], S.hToShift, h, c);
      const dx = 0.5 * (to[0] - x), dy = 0.5 * (to[1] - y), dz = 0.5 * (to[2] - z), len = Math.hypot(dx, dy, dz) || 1;
      const f = inside(from, len), g = t >= 0 ? 2 - inside(t, len) : 1; // the end, in half lengths from the start site
      put(start, 3, k, x + f * dx, y + f * dy, z + f * dz);
      put(end, 3, k, x + g * dx, y + g * dy, z + g * dz);
      put(br, 1, k, rb);
      put(split, 1, k, (1 - f) * len);
      put(cap, 1, k, (looks.radius[from] < rb ? 1 : 0) + (t < 0 || looks.radius[t] < rb ? 2 : 0)); // open ends
    });
    this.bonds.count = sticks.length;
    this.atoms.touch("position", "radius"); this.bonds.touch("position", "end", "radius", "split", "cap");
    if (rings) this.rings.touch("position", "radius");
    // arrows on the atoms in the box (not on the faded neighbours outside it)
    const inBox = Uint8Array.from(S.kind, (kind, site) => kind === 0 && looks.visible[site]);
    this.nArrows = this.arrows.update(v.model, S, P, inBox, this.frameVectors);
    this.polyhedra.update(p, c);
  }

  colors(v) {
    const { S, looks, shown, sticks, partner } = this;
    const ec = v.elementColors.length === 3 * v.n ? v.elementColors : v.colors;
    // an atom's colour, faded towards white for outside neighbours
    const rgb = (out, k, arr, site) => {
      const a = S.atom[site], f = looks.fade[site];
      put(out, 3, k, arr[3 * a] + f * (1 - arr[3 * a]), arr[3 * a + 1] + f * (1 - arr[3 * a + 1]), arr[3 * a + 2] + f * (1 - arr[3 * a + 2]));
    };
    const atoms = this.atoms.arrays.color, rings = this.rings.arrays.color, { color: bonds, color2: bonds2 } = this.bonds.arrays;
    shown.forEach((site, k) => { rgb(atoms, k, v.colors, site); rgb(rings, k, ec, site); });
    sticks.forEach((h, k) => { rgb(bonds, k, v.colors, S.hFrom[h]); rgb(bonds2, k, v.colors, partner[k] >= 0 ? partner[k] : S.hFrom[h]); });
    this.atoms.count = this.rings.count = shown.length;
    this.bonds.count = sticks.length;
    for (const imp of [this.atoms, this.rings, this.bonds]) imp.touch("color");
    this.bonds.touch("color2");
    this.rings.mesh.visible = Boolean(v.model.get("colorbar")?.stops);
    if (this.rings.mesh.visible) { // rings are placed while visible only: place them now
      const a = this.atoms.arrays, r = this.rings.arrays;
      r.position.set(a.position);
      for (let i = 0; i < a.radius.length; i++) r.radius[i] = a.radius[i] * RING;
      this.rings.touch("position", "radius");
    }
    this.polyhedra.colors(v.colors);
  }

  // highlight every drawn site in the box of the atoms in `atoms`
  highlightAtoms(atoms) {
    const want = new Set(atoms), { S, looks, shown, P } = this, mat = new Matrix4();
    let k = 0;
    for (const site of shown) {
      if (S.kind[site] !== 0 || !want.has(S.atom[site])) continue;
      const r = looks.radius[site] * HIGHLIGHT;
      this.highlight.setMatrixAt(k++, mat.makeScale(r, r, r).setPosition(P[3 * site], P[3 * site + 1], P[3 * site + 2]));
    }
    this.highlight.count = k;
    this.highlight.instanceMatrix.needsUpdate = true;
    if (k) this.highlight.computeBoundingSphere();
  }

  // the site under a ray (the nearest atom sphere it enters), or null
  pick(raycaster) {
    const { origin: o, direction: d } = raycaster.ray, { shown, looks, P } = this;
    let best = Infinity, hit = null;
    for (const site of shown) {
      const r = looks.radius[site];
      const x = o.x - P[3 * site], y = o.y - P[3 * site + 1], z = o.z - P[3 * site + 2];
      const b = x * d.x + y * d.y + z * d.z, disc = b * b - (x * x + y * y + z * z - r * r);
      if (disc < 0) continue;
      const t = -b - Math.sqrt(disc);
      if (t > 0 && t < best) { best = t; hit = site; }
    }
    return hit;
  }

  // points that must be in view: visible sites, and the largest drawn radius
  extent() {
    let r = 0;
    for (const site of this.shown) r = Math.max(r, this.looks.radius[site]);
    return { points: this.shown.map((s) => s), P: this.P, radius: r };
  }

  dispose() {
    for (const imp of [this.atoms, this.rings, this.bonds]) imp?.dispose();
    for (const m of Object.values(this.materials)) m.dispose();
    this.highlight?.geometry.dispose();
    this.arrows.dispose();
    this.polyhedra.dispose();
  }
}
