// What the viewer draws: sites (an atom at a cell shift) and half bonds between them.
//
// Small cells come with the kernel's site list (site_atom, site_shift, site_kind,
// site_bonds): atoms on faces, edges and corners repeated on the opposite boundaries,
// and bonded neighbours just outside the box (kind 1). Without one (big systems, or
// boundary="off") every atom is drawn once per repeated cell and a bond through a
// cell face is a half bond that ends at the face. Sites keep integer cell shifts, not
// coordinates, so a streamed frame only moves them.
import { f32, i32 } from "./buffers.js";

// radii and bond thickness per style; atom_scale and bond_scale multiply them
const STYLE = {
  "ball-and-stick": { atom: 0.5, bond: 0.12, bonds: true },
  "space-filling": { atom: 1.0, bond: 0, bonds: false },
  "sticks": { atom: 0, bond: 0.18, bonds: true }, // atoms as round joints as thick as the sticks
  "wireframe": { atom: 0, bond: 0.035, bonds: true },
};
export const STYLES = Object.keys(STYLE);
const FADE = 0.6; // outside neighbours: colour this far towards white ("faded")
const SMALL = 0.5; // outside neighbours: this fraction of the radius ("small")

export function buildSites(model, n, bondI, bondJ, bondShift) {
  const atom = i32(model.get("site_atom")), shift = f32(model.get("site_shift"));
  const kind = i32(model.get("site_kind")), pairs = i32(model.get("site_bonds"));
  const ok = atom.length > 0 && shift.length === 3 * atom.length && kind.length === atom.length && atom.every((a) => a < n);
  if (ok) {
    // each bond drawn as two halves, one from each end, in that end's colour
    const nh = pairs.length, hFrom = new Int32Array(nh), hTo = new Int32Array(nh);
    for (let e = 0; e < nh / 2; e++) {
      hFrom[2 * e] = pairs[2 * e]; hTo[2 * e] = pairs[2 * e + 1];
      hFrom[2 * e + 1] = pairs[2 * e + 1]; hTo[2 * e + 1] = pairs[2 * e];
    }
    const hToAtom = Int32Array.from(hTo, (s) => atom[s]);
    const hToShift = new Float32Array(3 * nh);
    hTo.forEach((s, k) => { hToShift.set(shift.subarray(3 * s, 3 * s + 3), 3 * k); });
    return { atom, shift, kind, hFrom, hToAtom, hToShift, hToSite: hTo, fromKernel: true };
  }
  const rep = model.get("repeat"), nRep = rep[0] * rep[1] * rep[2], nb = bondI.length;
  const S = { atom: new Int32Array(n * nRep), shift: new Float32Array(3 * n * nRep), kind: new Int32Array(n * nRep),
    hFrom: new Int32Array(nb * nRep), hToAtom: new Int32Array(nb * nRep), hToShift: new Float32Array(3 * nb * nRep),
    hToSite: new Int32Array(nb * nRep), fromKernel: false };
  // the site of atom j in repeated cell (a, b, c), or -1 outside the repeats
  const siteOf = (j, a, b, c) => (a < 0 || b < 0 || c < 0 || a >= rep[0] || b >= rep[1] || c >= rep[2] ? -1 : ((a * rep[1] + b) * rep[2] + c) * n + j);
  let r = 0;
  for (let a = 0; a < rep[0]; a++) for (let b = 0; b < rep[1]; b++) for (let c = 0; c < rep[2]; c++, r++) {
    for (let i = 0; i < n; i++) {
      const s = r * n + i;
      S.atom[s] = i; S.shift[3 * s] = a; S.shift[3 * s + 1] = b; S.shift[3 * s + 2] = c;
    }
    for (let e = 0; e < nb; e++) {
      const k = r * nb + e;
      S.hFrom[k] = r * n + bondI[e]; S.hToAtom[k] = bondJ[e];
      S.hToShift[3 * k] = a + bondShift[3 * e]; S.hToShift[3 * k + 1] = b + bondShift[3 * e + 1]; S.hToShift[3 * k + 2] = c + bondShift[3 * e + 2];
      S.hToSite[k] = siteOf(bondJ[e], S.hToShift[3 * k], S.hToShift[3 * k + 1], S.hToShift[3 * k + 2]);
    }
  }
  return S;
}

// Cartesian position of atom ``a`` shifted by ``s`` (three numbers at ``sh[3 * k]``) cells
export function place(out, o, p, a, sh, k, c) {
  const x = sh[3 * k], y = sh[3 * k + 1], z = sh[3 * k + 2];
  out[o] = p[3 * a] + x * c[0] + y * c[3] + z * c[6];
  out[o + 1] = p[3 * a + 1] + x * c[1] + y * c[4] + z * c[7];
  out[o + 2] = p[3 * a + 2] + x * c[2] + y * c[5] + z * c[8];
}

export function sitePositions(S, p, c) {
  const m = S.atom.length, out = new Float32Array(3 * m);
  for (let s = 0; s < m; s++) place(out, 3 * s, p, S.atom[s], S.shift, s, c);
  return out;
}

// how each site is drawn under the current style: visible, radius, colour factor
export function siteLooks(model, S, numbers, radii, species) {
  const st = STYLE[model.get("style")] || STYLE["ball-and-stick"];
  const atomScale = model.get("atom_scale"), bondR = st.bond * model.get("bond_scale");
  const outside = model.get("outside");
  const hidden = new Set(model.get("hidden_elements"));
  const hiddenZ = new Set(Object.keys(species).filter((z) => hidden.has(species[z])).map(Number));
  const m = S.atom.length, visible = new Uint8Array(m), radius = new Float32Array(m), fade = new Float32Array(m);
  for (let s = 0; s < m; s++) {
    const a = S.atom[s], ghost = S.kind[s] === 1;
    visible[s] = hiddenZ.has(numbers[a]) || (ghost && outside === "hidden") ? 0 : 1;
    radius[s] = (st.atom ? st.atom * radii[a] * atomScale : bondR) * (ghost && outside === "small" ? SMALL : 1);
    fade[s] = ghost && outside === "faded" ? FADE : 0;
  }
  return { visible, radius, fade, bondRadius: st.bonds ? bondR : 0, hiddenZ };
}
