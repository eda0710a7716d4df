// Impostor spheres and cylinders: two triangles per atom or half bond, ray-cast in the
// fragment shader, with the depth of the surface hit written to the depth buffer (so
// they intersect each other, the arrows, polyhedra and cell lines correctly).
//
// A triangle-mesh sphere costs ~100-400 triangles, and WebGL on the CPU (SwiftShader)
// pays ~20 µs per instance of an instanced draw whatever its size (1,000 atoms and 4,000
// half bonds: ~100 ms a picture). Here every object is a quad of four vertices in one
// plain indexed draw, its data repeated on the four (the corner is gl_VertexID % 4):
// 1,000 atoms with their bonds draw in a few ms. Lighting follows MeshPhongMaterial's
// (ambient + one directional light, three's Lambert and Blinn-Phong terms), so the
// colours look as before; colours are in three's working space, converted on output.
import { BufferAttribute, BufferGeometry, DoubleSide, DynamicDrawUsage, Mesh, ShaderMaterial, Vector3 } from "three";

const Z = new Vector3(0, 0, 1);

const COMMON = /* glsl */ `
uniform mat4 projectionMatrix;  // not declared for fragment shaders by three
uniform vec3 lightDir, halfDir;   // towards the light; halfway between it and the camera axis (view space)
uniform float ambient, direct;
uniform int ortho, unlit;
// SwiftShader runs this per pixel on the CPU: no pow, no normalize, two terms of the projection
vec3 shade(vec3 color, vec3 n) {
  if (unlit == 1) return color;
  float dl = max(dot(n, lightDir), 0.0), s = max(dot(n, halfDir), 0.0);
  s *= s; s *= s; s *= s; s *= s; s *= s; s *= s;   // s^64 for MeshPhongMaterial's shininess 60
  return color * (ambient + direct * dl) * 0.31830989 + (direct * dl * 0.0056 * 0.25 * 0.31830989 * 31.0) * s;
}
void writeDepth(vec3 p) {
  // clip z and w of a view-space point (x and y do not enter them without a view offset)
  float z = projectionMatrix[2][2] * p.z + projectionMatrix[3][2], w = projectionMatrix[2][3] * p.z + projectionMatrix[3][3];
  gl_FragDepth = 0.5 * z / w + 0.5;
}
// the ray through this fragment: from the quad's point (near the object: good precision)
void ray(vec3 q, out vec3 o, out vec3 d) {
  o = q;
  d = ortho == 1 ? vec3(0.0, 0.0, -1.0) : normalize(q);
}
`;

// the quad's corner of this vertex (four vertices per object, in this order)
const CORNER = /* glsl */ `
vec2 corner(int k) { return k == 0 ? vec2(-1.0, -1.0) : k == 1 ? vec2(1.0, -1.0) : k == 2 ? vec2(1.0, 1.0) : vec2(-1.0, 1.0); }
`;

const SPHERE_VS = /* glsl */ `
${CORNER}
#define center position
attribute float radius;
attribute vec3 color;
uniform int ortho;
varying vec3 vCenter, vColor, vQuad;
varying float vRadius;
void main() {
  vec3 c = (modelViewMatrix * vec4(center, 1.0)).xyz;
  // half size of the quad in the plane through the centre: the cone from the eye to the
  // sphere widens it by 1/sqrt(1 - r^2/D^2), off-axis viewing by 1/cos(angle)
  float D = length(c), k = 1.0;
  if (ortho == 0) k = 1.0 / (sqrt(max(1.0 - radius * radius / (D * D), 0.01)) * max(abs(c.z) / D, 0.2));
  vQuad = c + vec3(corner(gl_VertexID % 4) * radius * k * 1.02, 0.0);
  vCenter = c; vColor = color; vRadius = radius;
  gl_Position = projectionMatrix * vec4(vQuad, 1.0);
}`;

const SPHERE_FS = /* glsl */ `
${COMMON}
uniform int back;   // 1: the far side (element rings: a back face around a smaller sphere)
varying vec3 vCenter, vColor, vQuad;
varying float vRadius;
void main() {
  vec3 o, d; ray(vQuad, o, d);
  vec3 oc = o - vCenter;
  float b = dot(oc, d), c = dot(oc, oc) - vRadius * vRadius, disc = b * b - c;
  if (disc < 0.0) discard;
  float t = back == 1 ? -b + sqrt(disc) : -b - sqrt(disc);
  vec3 p = o + t * d, n = (p - vCenter) / vRadius;
  writeDepth(p);
  gl_FragColor = vec4(shade(vColor, n), 1.0);
  #include <colorspace_fragment>
}`;

const CYLINDER_VS = /* glsl */ `
${CORNER}
#define start position
attribute vec3 end, color;
attribute float radius;
uniform int ortho;
varying vec3 vA, vB, vColor, vQuad;
varying float vRadius;
void main() {
  vec3 a = (modelViewMatrix * vec4(start, 1.0)).xyz, b = (modelViewMatrix * vec4(end, 1.0)).xyz;
  vec3 mid = 0.5 * (a + b), toEye = ortho == 1 ? vec3(0.0, 0.0, 1.0) : normalize(-mid);
  vec3 axis = b - a, side = cross(axis, toEye);
  side = length(side) < 1e-6 * length(axis) + 1e-9 ? vec3(1.0, 0.0, 0.0) : normalize(side);
  vec3 up = normalize(cross(toEye, side));   // the axis as seen, in the plane facing the eye
  float along = dot(axis, up) >= 0.0 ? 1.0 : -1.0;
  float D = max(length(mid), 1e-3), k = ortho == 1 ? 1.05 : 1.0 / max(abs(mid.z) / D, 0.2) * 1.1;
  float R = radius * k;
  // corner x: -1 at the start, +1 at the end; y: -1 / +1 across
  vec2 q = corner(gl_VertexID % 4);
  vec3 e = q.x < 0.0 ? a - up * along * R : b + up * along * R;
  vQuad = e + side * q.y * R + toEye * radius;
  vA = a; vB = b; vColor = color; vRadius = radius;
  gl_Position = projectionMatrix * vec4(vQuad, 1.0);
}`;

const CYLINDER_FS = /* glsl */ `
${COMMON}
varying vec3 vA, vB, vColor, vQuad;
varying float vRadius;
void main() {
  vec3 o, d; ray(vQuad, o, d);
  vec3 axis = vB - vA;
  float len = length(axis);
  vec3 u = axis / len, oc = o - vA;
  vec3 dp = d - dot(d, u) * u, ocp = oc - dot(oc, u) * u;
  float A = dot(dp, dp), B = dot(dp, ocp), C = dot(ocp, ocp) - vRadius * vRadius;
  float tBest = 1e20; vec3 nBest = vec3(0.0);
  float disc = B * B - A * C;
  if (disc >= 0.0 && A > 1e-12) {
    float t = (-B - sqrt(disc)) / A;
    float y = dot(oc + t * d, u);
    if (y >= 0.0 && y <= len) { tBest = t; nBest = normalize(oc + t * d - y * u); }
  }
  // flat caps: a half bond that ends at a cell face is closed, not a hollow tube
  for (int k = 0; k < 2; k++) {
    vec3 pc = k == 0 ? vA : vB, nc = k == 0 ? -u : u;
    float dn = dot(d, nc);
    if (dn >= 0.0) continue;   // a cap seen from behind is hidden by the side
    float t = dot(pc - o, nc) / dn;
    vec3 r = o + t * d - pc;
    if (dot(r, r) <= vRadius * vRadius && t < tBest) { tBest = t; nBest = nc; }
  }
  if (tBest > 1e19) discard;
  vec3 p = o + tBest * d;
  writeDepth(p);
  gl_FragColor = vec4(shade(vColor, nBest), 1.0);
  #include <colorspace_fragment>
}`;

function material(vertexShader, fragmentShader, extra = {}) {
  return new ShaderMaterial({
    vertexShader, fragmentShader,
    side: DoubleSide, // a bond's quad faces the eye either way round, depending on the bond's direction
    uniforms: { lightDir: { value: new Vector3(0, 0, 1) }, halfDir: { value: new Vector3(0, 0, 1) }, ambient: { value: 0.9 }, direct: { value: 1.6 }, ortho: { value: 0 }, unlit: { value: 0 }, back: { value: 0 }, ...extra },
  });
}

// The shader materials of atoms, rings and bonds. Their owner (lib/drawing.js) keeps them
// for the life of the view: a new material compiles its program again (three.js drops a
// program with its last material), which SwiftShader takes tens of ms to do, and bonds
// that break and form during MD rebuild the meshes at every such frame.
export function sphereMaterial({ back = false, unlit = false } = {}) {
  const m = material(SPHERE_VS, SPHERE_FS);
  m.uniforms.back.value = back ? 1 : 0;
  m.uniforms.unlit.value = unlit ? 1 : 0;
  return m;
}

export function cylinderMaterial() {
  return material(CYLINDER_VS, CYLINDER_FS);
}

// four vertices (two triangles) per object; ``arrays[name]`` holds [4 * n * size] floats
class Impostors {
  constructor(attrs, mat, n) {
    const g = new BufferGeometry(), m = Math.max(1, n);
    this.arrays = {};
    for (const [name, size] of Object.entries(attrs)) {
      const attr = new BufferAttribute(new Float32Array(4 * m * size), size);
      attr.setUsage(DynamicDrawUsage);
      g.setAttribute(name, attr);
      this.arrays[name] = attr.array;
    }
    const index = 4 * m > 65535 ? new Uint32Array(6 * m) : new Uint16Array(6 * m);
    for (let k = 0, o = 0; k < m; k++, o += 6) {
      const v = 4 * k;
      index[o] = v; index[o + 1] = v + 1; index[o + 2] = v + 2; index[o + 3] = v; index[o + 4] = v + 2; index[o + 5] = v + 3;
    }
    g.setIndex(new BufferAttribute(index, 1));
    g.setDrawRange(0, 0);
    this.n = 0;
    this.geometry = g;
    this.material = mat; // its owner's: not disposed with the geometry
    this.mesh = new Mesh(g, this.material);
    this.mesh.frustumCulled = false; // its bounds would be recomputed at every frame for nothing
  }

  get count() { return this.n; }
  set count(n) { this.n = n; this.geometry.setDrawRange(0, 6 * n); }

  touch(...names) {
    for (const name of names) {
      const attr = this.geometry.getAttribute(name);
      attr.clearUpdateRanges();
      attr.addUpdateRange(0, 4 * this.n * attr.itemSize);
      attr.needsUpdate = true;
    }
  }

  // the camera and light of this picture (before each render)
  setView(camera, light) {
    const u = this.material.uniforms;
    u.ortho.value = camera.isOrthographicCamera ? 1 : 0;
    u.lightDir.value.copy(light.position).sub(light.target.position).transformDirection(camera.matrixWorldInverse);
    u.halfDir.value.copy(u.lightDir.value).add(Z).normalize();
  }

  dispose() { this.geometry.dispose(); }
}

export class Spheres extends Impostors {
  constructor(n, mat) {
    super({ position: 3, radius: 1, color: 3 }, mat, n); // position: the centre
  }
}

export class Cylinders extends Impostors {
  constructor(n, mat) {
    super({ position: 3, end: 3, radius: 1, color: 3 }, mat, n); // position: the start
  }
}

// object k's value (size 1 or 3) on its four vertices
export function put(arr, size, k, x, y, z) {
  let o = 4 * size * k;
  for (let c = 0; c < 4; c++, o += size) {
    arr[o] = x;
    if (size === 3) { arr[o + 1] = y; arr[o + 2] = z; }
  }
}
