// StructureView export: the view drawn at a chosen size into an offscreen render target
// (the canvas on the page is not resized), as a PNG, or the trajectory recorded as a
// WebM movie with MediaRecorder; the bytes go back to the kernel as binary buffers,
// in chunks, and the kernel writes the file (matwidgets/widgets/view_export.py).
import { SRGBColorSpace, Vector2, WebGLRenderTarget } from "three";

const CLAIMS = Symbol.for("matwidgets.structure_view.exports");
const CHUNK = 4 << 20; // bytes per message
const TYPES = ["video/webm;codecs=vp9", "video/webm;codecs=vp8", "video/webm"];
const sleep = (ms) => new Promise((res) => setTimeout(res, Math.max(0, ms)));

// several views of one widget in a page all hear a request: the first one answers it
function claim(id) {
  const claimed = (globalThis[CLAIMS] ??= new Set());
  if (claimed.has(id)) return false;
  claimed.add(id);
  return true;
}

// the view's camera drawn into width x height pixels: RGBA, rows from the top
export function drawPixels(v, width, height) {
  const r = v.renderer, max = r.capabilities.maxTextureSize;
  if (width > max || height > max) throw new Error(`${width}x${height} px is larger than this WebGL allows (${max} px)`);
  const rt = new WebGLRenderTarget(width, height, { samples: 4, colorSpace: SRGBColorSpace });
  const { persp, ortho } = v, saved = [persp.aspect, ortho.left, ortho.right, ortho.top, ortho.bottom];
  const a = width / height, half = v.radius || 10;
  persp.aspect = a;
  Object.assign(ortho, { left: -half * a, right: half * a, top: half, bottom: -half });
  persp.updateProjectionMatrix(); ortho.updateProjectionMatrix();
  const px = new Uint8Array(4 * width * height);
  try {
    v.light.position.copy(v.camera.position);
    r.setRenderTarget(rt);
    r.render(v.scene, v.camera);
    r.readRenderTargetPixels(rt, 0, 0, width, height, px);
  } finally {
    r.setRenderTarget(null);
    rt.dispose();
    [persp.aspect, ortho.left, ortho.right, ortho.top, ortho.bottom] = saved;
    persp.updateProjectionMatrix(); ortho.updateProjectionMatrix();
    v.requestRender();
  }
  const row = 4 * width, out = new Uint8ClampedArray(px.length); // WebGL's rows start at the bottom
  for (let y = 0; y < height; y++) out.set(px.subarray((height - 1 - y) * row, (height - y) * row), y * row);
  return new ImageData(out, width, height);
}

function canvas2d(width, height) {
  const c = document.createElement("canvas");
  c.width = width; c.height = height;
  return [c, c.getContext("2d")];
}

async function png(v, width, height) {
  const [c, ctx] = canvas2d(width, height);
  ctx.putImageData(drawPixels(v, width, height), 0, 0);
  const blob = await new Promise((res) => c.toBlob(res, "image/png"));
  return blob.arrayBuffer();
}

// every frame of the kernel's trajectory, drawn and recorded at fps (in real time:
// MediaRecorder stamps frames with the clock)
async function movie(v, { fps, width, height, n_frames: n }) {
  const type = globalThis.MediaRecorder && TYPES.find((t) => MediaRecorder.isTypeSupported(t));
  if (!type) throw new Error("this browser cannot record WebM (no MediaRecorder for video/webm)");
  const [c, ctx] = canvas2d(width, height);
  const stream = c.captureStream(0), track = stream.getVideoTracks()[0];
  const rec = new MediaRecorder(stream, { mimeType: type, videoBitsPerSecond: 8e6 });
  const parts = [];
  rec.ondataavailable = (e) => { if (e.data.size) parts.push(e.data); };
  const stopped = new Promise((res, rej) => { rec.onstop = res; rec.onerror = (e) => rej(e.error || new Error("MediaRecorder failed")); });
  const shown = v.traj?.shown ?? 0;
  v.stopPlaying();
  rec.start();
  try {
    const t0 = performance.now();
    for (let k = 0; k < n; k++) {
      await v.fetchFrame(k); // drawn into the view's geometry (its bonds and atoms too)
      ctx.putImageData(drawPixels(v, width, height), 0, 0);
      track.requestFrame();
      v.root.dataset.movieFrame = String(k + 1);
      await sleep(t0 + ((k + 1) * 1000) / fps - performance.now());
    }
    // the encoder runs behind the clock on a loaded CPU: give it the last frame's time again
    // before stopping, or a short movie can come back with no data at all
    await sleep(1000 / fps);
  } finally {
    rec.stop();
    track.stop();
  }
  await stopped;
  if (v.traj) v.requestFrame(Math.min(shown, v.traj.n - 1)); // back to the frame the slider shows
  if (!parts.length) throw new Error("MediaRecorder recorded no data (try again, or a lower fps)");
  return new Blob(parts, { type }).arrayBuffer();
}

// {type: "export", id, format: "png" | "webm", width?, height?, fps?, n_frames?} from the kernel
export async function exportView(v, msg) {
  if (!claim(msg.id)) return;
  const send = (content, buffers) => v.model.send({ ...content, id: msg.id, view: v.viewId }, undefined, buffers);
  // by default the canvas's size at full resolution (a lagging stream draws it smaller for a while)
  const size = v.renderer.getSize(new Vector2()), dpr = window.devicePixelRatio || 1;
  const width = msg.width ?? Math.floor(size.x * dpr), height = msg.height ?? Math.floor(size.y * dpr);
  try {
    const bytes = msg.format === "png" ? await png(v, width, height) : await movie(v, { ...msg, width, height });
    let n = 0;
    for (let o = 0; o < bytes.byteLength || n === 0; o += CHUNK) send({ type: "export_chunk", seq: n++ }, [bytes.slice(o, o + CHUNK)]);
    send({ type: "export_done", n });
  } catch (err) {
    send({ type: "export_error", error: String(err?.message || err) });
  }
  v.root.dataset.exports = String(Number(v.root.dataset.exports || 0) + 1);
}
