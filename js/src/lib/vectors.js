// Arrows, one per atom (forces, velocities, magnetic moments, displacements), drawn from
// each atom's centre: one InstancedMesh of shafts and one of heads, like atoms and bonds.
import { ConeGeometry, CylinderGeometry, DynamicDrawUsage, InstancedMesh, Matrix4, MeshPhongMaterial, Quaternion, Vector3 } from "three";
import { f32 } from "./buffers.js";

const Y = new Vector3(0, 1, 0);
const SHAFT = 0.06, HEAD = 0.16, HEAD_LEN = 0.35; // Å

export class Arrows {
  constructor(scene) {
    this.scene = scene;
    this.material = new MeshPhongMaterial({ color: 0xffffff, shininess: 40 });
    this.shafts = this.heads = null;
  }

  // sites: the viewer's sites; P: their positions [3m]; show: which sites get an arrow;
  // streamed: a frame's vectors [3n] (push_frame), used instead of the trait's when given
  update(model, S, P, show, streamed = null) {
    const v = streamed || f32(model.get("vectors")), scale = model.get("vector_scale");
    const n = v.length / 3, m = S.atom.length;
    if (!this.shafts || this.shafts.instanceMatrix.count < Math.max(1, m)) this.allocate(Math.max(1, m));
    this.material.color.set(model.get("vector_color"));
    const mat = new Matrix4(), q = new Quaternion(), d = new Vector3(), at = new Vector3(), s = new Vector3();
    let k = 0;
    for (let i = 0; n && i < m; i++) {
      const a = S.atom[i];
      if (!show[i] || a >= n) continue;
      d.set(v[3 * a], v[3 * a + 1], v[3 * a + 2]).multiplyScalar(scale);
      const len = d.length();
      if (len < 1e-3) continue;
      const head = Math.min(HEAD_LEN, 0.5 * len), shaft = len - head;
      q.setFromUnitVectors(Y, d.clone().normalize());
      at.set(P[3 * i], P[3 * i + 1], P[3 * i + 2]);
      mat.compose(at.clone().addScaledVector(d, shaft / len / 2), q, s.set(SHAFT, shaft, SHAFT));
      this.shafts.setMatrixAt(k, mat);
      mat.compose(at.clone().addScaledVector(d, (shaft + head / 2) / len), q, s.set(HEAD, head, HEAD));
      this.heads.setMatrixAt(k, mat);
      k++;
    }
    this.shafts.count = this.heads.count = k;
    this.shafts.instanceMatrix.needsUpdate = this.heads.instanceMatrix.needsUpdate = true;
    if (k) { this.shafts.computeBoundingSphere(); this.heads.computeBoundingSphere(); }
    return k;
  }

  allocate(m) {
    this.dispose();
    this.shafts = new InstancedMesh(new CylinderGeometry(1, 1, 1, 10, 1, false), this.material, m);
    this.heads = new InstancedMesh(new ConeGeometry(1, 1, 14), this.material, m);
    for (const mesh of [this.shafts, this.heads]) { mesh.instanceMatrix.setUsage(DynamicDrawUsage); this.scene.add(mesh); }
  }

  dispose() {
    for (const mesh of [this.shafts, this.heads]) if (mesh) { this.scene.remove(mesh); mesh.geometry.dispose(); }
  }
}
