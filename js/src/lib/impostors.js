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
// colours look as before; colours are in three's working space, converted on output
// (to sRGB by outputTexel: within 0.4 of a level of three's conversion, 10-18% cheaper a picture).
//
// Per pixel, SwiftShader runs every operation of the fragment shaders on the CPU: per-object
// values are flat varyings, rays are not normalised, and a bond is ray-cast in its own frame.
import { BufferAttribute, BufferGeometry, DoubleSide, DynamicDrawUsage, Mesh, SRGBColorSpace, ShaderMaterial, Vector3 } from "three";

const Z = new Vector3(0, 0, 1);

const COMMON = /* glsl */ `
uniform mat4 projectionMatrix;  // not declared for fragment shaders by three
uniform vec3 lightDir, halfDir;   // towards the light; halfway between it and the camera axis (view space)
uniform float ambient, direct;
uniform int ortho, unlit;
// SwiftShader runs this per pixel on the CPU: no pow, no normalize, two terms of the projection
vec3 shadeDots(vec3 color, float nl, float nh) {
  if (unlit == 1) return color;
  float dl = max(nl, 0.0), s = max(nh, 0.0);
  s *= s; s *= s; s *= s; s *= s; s *= s; s *= s;   // s^64 for MeshPhongMaterial's shininess 60
  return color * (ambient + direct * dl) * 0.31830989 + (direct * dl * 0.0056 * 0.25 * 0.31830989 * 31.0) * s;
}
vec3 shade(vec3 color, vec3 n) { return shadeDots(color, dot(n, lightDir), dot(n, halfDir)); }
// The picture's output encoding. To the canvas (sRGB), three's sRGBTransferOETF costs a
// pow per channel and pixel: 10-18% of a picture in SwiftShader. Ian Taylor's three-sqrt
// fit of the whole curve 1.055 x^(1/2.4) - 0.055 (chilliant.com/rgb2hsv.html, "sRGB
// approximations for HLSL") stays within 0.4 of an 8-bit level of the exact curve. A render target (PNG export) is linear in the
// shader (its sRGB format encodes in hardware): three's own conversion. The choice is made
// when the program is compiled (SRGB_OUTPUT, see material()): chosen by a uniform at run
// time, it measured no faster than three's conversion.
vec4 outputTexel(vec4 c) {
#ifdef SRGB_OUTPUT
  vec3 x = max(c.rgb, 0.0), s1 = sqrt(x), s2 = sqrt(s1), s3 = sqrt(s2);
  return vec4(mix(0.585122381 * s1 + 0.783140355 * s2 - 0.368262736 * s3, 12.92 * x, step(x, vec3(0.0031308))), c.a);
#else
  return linearToOutputTexel(c);
#endif
}
// depth of a view-space z: clip z and w (x and y do not enter them without a view offset)
void writeDepthZ(float z) {
  gl_FragDepth = 0.5 * (projectionMatrix[2][2] * z + projectionMatrix[3][2]) / (projectionMatrix[2][3] * z + projectionMatrix[3][3]) + 0.5;
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
varying vec3 vQuad;
flat varying vec3 vCenter, vColor;
flat varying float vRadius;
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
varying vec3 vQuad;
flat varying vec3 vCenter, vColor;
flat varying float vRadius;
void main() {
  // the ray q + t d, d = q from the eye through the quad point (not normalised) or the view axis
  vec3 d = ortho == 1 ? vec3(0.0, 0.0, -1.0) : vQuad, oc = vQuad - vCenter;
  float A = dot(d, d), b = dot(oc, d), disc = b * b - A * (dot(oc, oc) - vRadius * vRadius);
  if (disc < 0.0) discard;
  float t = (back == 1 ? -b + sqrt(disc) : -b - sqrt(disc)) / A;
  vec3 p = vQuad + t * d;
  writeDepthZ(p.z);
  gl_FragColor = outputTexel(vec4(shade(vColor, (p - vCenter) / vRadius), 1.0));
}`;

// A bond: one cylinder from its start to its end, in the start's colour up to ``split`` Å
// from the start and the end's colour after it (a bond between two drawn atoms is one
// cylinder, not two halves). Only an open end gets a flat cap (``cap``: 1 the start, 2 the
// end, 3 both): the end of a half bond that stops at a cell face, or an end at an atom
// thinner than the bond; other ends lie inside their atoms. The ray is taken in the
// cylinder's own frame (x along the axis from the start), where origin and direction are
// linear over the quad: interpolated, not recomputed per pixel; the light comes along in
// that frame too. SwiftShader pays per pixel for every operation here.
const CYLINDER_VS = /* glsl */ `
${CORNER}
#define start position
attribute vec3 end, color, color2;
attribute float radius, split, cap;
uniform int ortho;
uniform vec3 lightDir, halfDir;
varying vec3 vO, vD;           // the ray in the cylinder's frame (direction not normalised)
varying vec2 vZ;               // view-space z of the quad point, and of the direction
flat varying vec3 vColor, vColor2, vL, vH;
flat varying float vRadius, vLen, vSplit, vCap;
void main() {
  vec3 a = (modelViewMatrix * vec4(start, 1.0)).xyz, b = (modelViewMatrix * vec4(end, 1.0)).xyz;
  vec3 mid = 0.5 * (a + b), toEye = ortho == 1 ? vec3(0.0, 0.0, 1.0) : normalize(-mid);
  vec3 axis = b - a, side = cross(axis, toEye);
  float len = length(axis);
  side = length(side) < 1e-6 * len + 1e-9 ? vec3(1.0, 0.0, 0.0) : normalize(side);
  vec3 up = normalize(cross(toEye, side));   // the axis as seen, in the plane facing the eye
  float along = dot(axis, up) >= 0.0 ? 1.0 : -1.0;
  float D = max(length(mid), 1e-3), k = ortho == 1 ? 1.05 : 1.0 / max(abs(mid.z) / D, 0.2) * 1.1;
  float R = radius * k;
  // corner x: -1 at the start, +1 at the end; y: -1 / +1 across
  vec2 q = corner(gl_VertexID % 4);
  vec3 e = q.x < 0.0 ? a - up * along * R : b + up * along * R;
  vec3 quad = e + side * q.y * R + toEye * radius;
  vec3 d = ortho == 1 ? vec3(0.0, 0.0, -1.0) : quad;   // from the eye (at the origin) through the quad point
  vec3 ex = axis / max(len, 1e-9), ey = normalize(cross(ex, abs(ex.x) < 0.9 ? vec3(1.0, 0.0, 0.0) : vec3(0.0, 1.0, 0.0))), ez = cross(ex, ey);
  mat3 toLocal = transpose(mat3(ex, ey, ez));
  vO = toLocal * (quad - a); vD = toLocal * d; vZ = vec2(quad.z, d.z);
  vL = toLocal * lightDir; vH = toLocal * halfDir;
  vColor = color; vColor2 = color2; vRadius = radius; vLen = len; vSplit = split; vCap = cap;
  gl_Position = projectionMatrix * vec4(quad, 1.0);
}`;

const CYLINDER_FS = /* glsl */ `
${COMMON}
varying vec3 vO, vD;
varying vec2 vZ;
flat varying vec3 vColor, vColor2, vL, vH;
flat varying float vRadius, vLen, vSplit, vCap;
void main() {
  float A = dot(vD.yz, vD.yz), B = dot(vO.yz, vD.yz), C = dot(vO.yz, vO.yz) - vRadius * vRadius;
  float disc = B * B - A * C, t = 0.0, x = -1.0;
  if (disc >= 0.0 && A > 1e-12) { t = (-B - sqrt(disc)) / A; x = vO.x + t * vD.x; }
  vec3 n;
  if (x >= 0.0 && x <= vLen) {
    n = vec3(0.0, vO.yz + t * vD.yz) / vRadius;
  } else {
    // entering before the start or past the end: that end's flat cap, if open and seen from outside
    bool atEnd = x > vLen || (disc < 0.0 || A <= 1e-12) && vD.x < 0.0;
    float open = atEnd ? step(2.0, vCap) : mod(vCap, 2.0), side = atEnd ? 1.0 : -1.0;
    if (open < 0.5 || side * vD.x >= 0.0) discard;
    float xc = atEnd ? vLen : 0.0;
    t = (xc - vO.x) / vD.x;
    vec2 r = vO.yz + t * vD.yz;
    if (dot(r, r) > vRadius * vRadius) discard;
    n = vec3(side, 0.0, 0.0); x = xc;
  }
  writeDepthZ(vZ.x + t * vZ.y);
  gl_FragColor = outputTexel(vec4(shadeDots(x < vSplit ? vColor : vColor2, dot(n, vL), dot(n, vH)), 1.0));
}`;

function material(vertexShader, fragmentShader, extra = {}) {
  const m = new ShaderMaterial({
    vertexShader, fragmentShader,
    side: DoubleSide, // a bond's quad faces the eye either way round, depending on the bond's direction
    uniforms: { lightDir: { value: new Vector3(0, 0, 1) }, halfDir: { value: new Vector3(0, 0, 1) }, ambient: { value: 0.9 }, direct: { value: 1.6 }, ortho: { value: 0 }, unlit: { value: 0 }, back: { value: 0 }, ...extra },
  });
  // three compiles one program per output colour space (the canvas, a render target): each
  // gets the output encoding it needs (outputTexel)
  m.onBeforeCompile = (p) => { if (p.outputColorSpace === SRGBColorSpace) p.fragmentShader = `#define SRGB_OUTPUT\n${p.fragmentShader}`; };
  return m;
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
    super({ position: 3, end: 3, radius: 1, color: 3, color2: 3, split: 1, cap: 1 }, mat, n); // position: the start
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
