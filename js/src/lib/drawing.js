// The atoms, bonds, element rings, highlights and arrows of a StructureView, drawn
// from its sites (lib/sites.js) with InstancedMesh: one draw call per kind, so 10^4
// atoms render at interactive rates and a streamed frame only rewrites the instance
// matrices (no geometry or material is rebuilt).
import {
  BackSide, Color, CylinderGeometry, DynamicDrawUsage, InstancedMesh, Matrix4, MeshBasicMaterial, MeshPhongMaterial,
  Quaternion, SphereGeometry, Vector3,
} from "three";
import { buildSites, place, siteLooks, sitePositions } from "./sites.js";
import { Polyhedra } from "./polyhedra.js";
import { Arrows } from "./vectors.js";

const RING = 1.14; // element-coloured outline around value-coloured atoms, relative to the atom radius
const HIGHLIGHT = 1.35;
const Y = new Vector3(0, 1, 0);

function sphereDetail(n) {
  // fewer triangles per sphere for big systems keeps rendering fast (also without a GPU)
  if (n > 5000) return [8, 6];
  if (n > 300) return [12, 8];
  return [24, 16];
}

export class Drawing {
  constructor(scene, material) {
    this.scene = scene;
    this.material = material;
    this.highlightMaterial = new MeshPhongMaterial({ color: 0xffd400, transparent: true, opacity: 0.45, depthWrite: false });
    this.ringMaterial = new MeshBasicMaterial({ color: 0xffffff, side: BackSide });
    this.arrows = new Arrows(scene);
    this.polyhedra = new Polyhedra(scene);
    this.meshes = [];
  }

  // after the structure, the sites or the style changed: sites, looks, meshes
  rebuild(v) {
    for (const obj of this.meshes) { this.scene.remove(obj); obj.geometry.dispose(); }
    const S = buildSites(v.model, v.n, v.bondI, v.bondJ, v.bondShift);
    const looks = siteLooks(v.model, S, v.numbers, v.radii, v.species);
    // instance k of the atom meshes is site shown[k]; hidden sites get no instance (never picked)
    const shown = Int32Array.from(S.atom.keys()).filter((s) => looks.visible[s]);
    // a half bond is drawn from a visible site towards an atom that is not hidden
    const halves = looks.bondRadius && v.model.get("show_bonds")
      ? Int32Array.from(S.hFrom.keys()).filter((h) => looks.visible[S.hFrom[h]] && !looks.hiddenZ.has(v.numbers[S.hToAtom[h]]))
      : new Int32Array(0);
    Object.assign(this, { S, looks, shown, halves });
    const [ws, hs] = sphereDetail(shown.length);
    const mesh = (geometry, material, count) => {
      const m = new InstancedMesh(geometry, material, Math.max(1, count));
      m.instanceMatrix.setUsage(DynamicDrawUsage);
      return m;
    };
    this.atoms = mesh(new SphereGeometry(1, ws, hs), this.material, shown.length);
    // closed cylinders: open ones show hollow "C" shapes where a bond is cut by the view
    this.bonds = mesh(new CylinderGeometry(1, 1, 1, 8, 1, false), this.material, halves.length);
    this.highlight = mesh(new SphereGeometry(1, 16, 12), this.highlightMaterial, shown.length);
    // back faces of slightly larger spheres in the element's colour: a ring that keeps the
    // element visible when atoms are coloured by a value (shown only then)
    this.rings = mesh(new SphereGeometry(1, ws, hs), this.ringMaterial, shown.length);
    this.meshes = [this.atoms, this.bonds, this.highlight, this.rings];
    this.polyhedra.rebuild(v.model, v.n);
    this.scene.add(...this.meshes);
  }

  // site positions of the current frame [3m], and every instance matrix
  update(v) {
    const { S, looks, shown, halves } = this, p = v.positions, c = v.cell;
    const P = (this.P = sitePositions(S, p, c));
    const mat = new Matrix4(), q = new Quaternion(), d = new Vector3(), s = new Vector3(), at = new Vector3();
    shown.forEach((site, k) => {
      const r = looks.radius[site];
      mat.makeScale(r, r, r).setPosition(P[3 * site], P[3 * site + 1], P[3 * site + 2]);
      this.atoms.setMatrixAt(k, mat);
      mat.makeScale(r * RING, r * RING, r * RING).setPosition(P[3 * site], P[3 * site + 1], P[3 * site + 2]);
      this.rings.setMatrixAt(k, mat);
    });
    this.atoms.count = this.rings.count = shown.length;
    // half bonds: from a site halfway to the partner it bonds to, so a bond to an atom
    // that is not drawn ends at the cell face instead of stretching across the cell
    const to = new Float32Array(3), rb = looks.bondRadius;
    halves.forEach((h, k) => {
      const from = S.hFrom[h];
      place(to, 0, p, S.hToAtom[h], S.hToShift, h, c);
      d.set(to[0] - P[3 * from], to[1] - P[3 * from + 1], to[2] - P[3 * from + 2]);
      const len = d.length() / 2;
      at.set(P[3 * from], P[3 * from + 1], P[3 * from + 2]).addScaledVector(d, 0.25);
      q.setFromUnitVectors(Y, d.normalize());
      this.bonds.setMatrixAt(k, mat.compose(at, q, s.set(rb, len, rb)));
    });
    this.bonds.count = halves.length;
    for (const m of [this.atoms, this.rings, this.bonds]) {
      m.instanceMatrix.needsUpdate = true;
      if (m.count) m.computeBoundingSphere();
    }
    // arrows on the atoms in the box (not on the faded neighbours outside it)
    const inBox = Uint8Array.from(S.kind, (kind, site) => kind === 0 && looks.visible[site]);
    this.nArrows = this.arrows.update(v.model, S, P, inBox, this.frameVectors);
    this.polyhedra.update(p, c);
  }

  colors(v) {
    const col = new Color(), { S, looks, shown, halves } = this;
    const ec = v.elementColors.length === 3 * v.n ? v.elementColors : v.colors;
    const rgb = (arr, site) => {
      const a = S.atom[site], f = looks.fade[site];
      return col.setRGB(arr[3 * a] + f * (1 - arr[3 * a]), arr[3 * a + 1] + f * (1 - arr[3 * a + 1]), arr[3 * a + 2] + f * (1 - arr[3 * a + 2]));
    };
    shown.forEach((site, k) => { this.atoms.setColorAt(k, rgb(v.colors, site)); this.rings.setColorAt(k, rgb(ec, site)); });
    halves.forEach((h, k) => this.bonds.setColorAt(k, rgb(v.colors, S.hFrom[h])));
    for (const m of [this.atoms, this.rings, this.bonds]) if (m.instanceColor) m.instanceColor.needsUpdate = true;
    this.rings.visible = Boolean(v.model.get("colorbar")?.stops);
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

  // the site under a ray (instance of the atom mesh), or null
  pick(raycaster) {
    const hit = raycaster.intersectObject(this.atoms, false)[0];
    return hit === undefined ? null : this.shown[hit.instanceId];
  }

  // points that must be in view: visible sites, and the largest drawn radius
  extent() {
    let r = 0;
    for (const site of this.shown) r = Math.max(r, this.looks.radius[site]);
    return { points: this.shown.map((s) => s), P: this.P, radius: r };
  }

  dispose() {
    for (const obj of this.meshes) obj.geometry.dispose();
    this.arrows.dispose();
    this.polyhedra.dispose();
  }
}
