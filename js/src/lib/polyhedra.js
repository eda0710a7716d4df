// Coordination polyhedra: translucent triangles in the centre atom's colour, with their
// edges. Vertices are atom images (poly_atom, poly_shift), so a streamed frame moves
// them like the atoms; the faces (convex hulls) come from the kernel.
import { BufferAttribute, BufferGeometry, DoubleSide, LineBasicMaterial, LineSegments, Mesh, MeshPhongMaterial } from "three";
import { f32, i32 } from "./buffers.js";
import { place } from "./sites.js";

export class Polyhedra {
  constructor(scene) {
    this.scene = scene;
    this.material = new MeshPhongMaterial({ vertexColors: true, transparent: true, side: DoubleSide, depthWrite: false, shininess: 20 });
    this.edgeMaterial = new LineBasicMaterial({ color: 0x555555 });
    this.mesh = this.edges = null;
    this.nFaces = 0;
  }

  rebuild(model, n) {
    this.dispose();
    this.atom = i32(model.get("poly_atom"));
    this.shift = f32(model.get("poly_shift"));
    this.faces = i32(model.get("poly_faces"));
    this.center = i32(model.get("poly_center"));
    this.material.opacity = model.get("polyhedra_opacity");
    const ok = this.atom.length && this.shift.length === 3 * this.atom.length && this.center.length * 3 === this.faces.length
      && this.atom.every((a) => a < n);
    this.nFaces = ok ? this.center.length : 0;
    if (!this.nFaces) return;
    const geo = new BufferGeometry();
    geo.setAttribute("position", new BufferAttribute(new Float32Array(9 * this.nFaces), 3));
    geo.setAttribute("color", new BufferAttribute(new Float32Array(9 * this.nFaces), 3));
    this.mesh = new Mesh(geo, this.material);
    this.mesh.renderOrder = 1; // after the opaque atoms, so they show through
    this.edges = new LineSegments(new BufferGeometry(), this.edgeMaterial);
    this.edges.geometry.setAttribute("position", new BufferAttribute(new Float32Array(18 * this.nFaces), 3));
    this.scene.add(this.mesh, this.edges);
  }

  update(p, c) {
    if (!this.nFaces) return;
    const V = new Float32Array(3 * this.atom.length);
    for (let v = 0; v < this.atom.length; v++) place(V, 3 * v, p, this.atom[v], this.shift, v, c);
    const pos = this.mesh.geometry.attributes.position.array, edge = this.edges.geometry.attributes.position.array;
    for (let f = 0; f < this.nFaces; f++) {
      for (let k = 0; k < 3; k++) {
        const a = this.faces[3 * f + k], b = this.faces[3 * f + ((k + 1) % 3)];
        pos.set(V.subarray(3 * a, 3 * a + 3), 9 * f + 3 * k);
        edge.set(V.subarray(3 * a, 3 * a + 3), 18 * f + 6 * k);
        edge.set(V.subarray(3 * b, 3 * b + 3), 18 * f + 6 * k + 3);
      }
    }
    this.mesh.geometry.attributes.position.needsUpdate = this.edges.geometry.attributes.position.needsUpdate = true;
    this.mesh.geometry.computeVertexNormals();
    this.mesh.geometry.computeBoundingSphere();
    this.edges.geometry.computeBoundingSphere();
  }

  colors(colors) {
    if (!this.nFaces) return;
    const col = this.mesh.geometry.attributes.color.array;
    for (let f = 0; f < this.nFaces; f++) {
      const a = this.center[f];
      for (let k = 0; k < 3; k++) col.set(colors.subarray(3 * a, 3 * a + 3), 9 * f + 3 * k);
    }
    this.mesh.geometry.attributes.color.needsUpdate = true;
  }

  dispose() {
    for (const obj of [this.mesh, this.edges]) if (obj) { this.scene.remove(obj); obj.geometry.dispose(); }
    this.mesh = this.edges = null;
  }
}
