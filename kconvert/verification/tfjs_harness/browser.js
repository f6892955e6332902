// Runs one TF.js layers model in a web page, as a TF.js user's page would, for
// kconvert/verification/tfjs_browser.py.  The page has already loaded the stock tf.min.js (and
// kconvert's packaged companion module, when the model's directory holds a copy of it) and set
// window.KCONVERT = {backends: [...]}.
//
// It picks the first backend in KCONVERT.backends that initialises, fetches the inputs
// (/inputs.json: [tensor...], a tensor being {"shape", "dtype": "float32"|"int32", "data": base64 of
// little-endian values}), loads /model/model.json with tf.loadLayersModel over HTTP, predicts, and
// POSTs {"outputs": [tensor...], "tfjs", "backend", "device", "notes"} -- or {"error": message} -- to /result.
"use strict";

(function () {
  const DTYPES = { float32: Float32Array, int32: Int32Array };

  function post(result) {
    return fetch("/result", { method: "POST", headers: { "Content-Type": "application/json" },
                              body: JSON.stringify(result) });
  }

  function decode(t) {
    const Type = DTYPES[t.dtype];
    if (!Type) throw new Error(`unsupported input dtype ${t.dtype}`);
    const binary = atob(t.data);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return tf.tensor(new Type(bytes.buffer), t.shape, t.dtype);
  }

  async function encode(tensor) {
    const int = tensor.dtype === "int32";
    const values = int ? Int32Array.from(await tensor.data()) : Float32Array.from(await tensor.data());
    const bytes = new Uint8Array(values.buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return { shape: tensor.shape, dtype: int ? "int32" : "float32", data: btoa(binary) };
  }

  async function chooseBackend(notes) {
    for (const name of window.KCONVERT.backends) {
      let ok = false;
      try {
        ok = await tf.setBackend(name);
      } catch (e) {
        notes.push(`${name} backend failed: ${e}`);
        continue;
      }
      if (ok) return name;
      notes.push(`${name} backend unavailable in this browser`);
    }
    throw new Error(`no TF.js backend of ${window.KCONVERT.backends.join(", ")} initialised (${notes.join("; ")})`);
  }

  async function main() {
    const notes = [];
    const backend = await chooseBackend(notes);
    await tf.ready();
    let device = "JavaScript";
    if (backend === "webgl") {
      const gl = tf.backend().gpgpu.gl;
      const info = gl.getExtension("WEBGL_debug_renderer_info");
      device = `WebGL ${tf.env().getNumber("WEBGL_VERSION")}: ${gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER)}`;
      if (!tf.env().getBool("WEBGL_RENDER_FLOAT32_ENABLED")) {
        notes.push("webgl renders float16 textures here: expect errors near 1e-3");
      }
    }
    const response = await fetch("/inputs.json");
    const inputs = (await response.json()).map(decode);
    const model = await tf.loadLayersModel("/model/model.json");
    let outputs = model.predict(inputs.length === 1 ? inputs[0] : inputs);
    outputs = Array.isArray(outputs) ? outputs : [outputs];
    const encoded = [];
    for (const y of outputs) encoded.push(await encode(y));
    await post({ outputs: encoded, tfjs: tf.version.tfjs, backend: tf.getBackend(), device, notes });
  }

  main().catch((e) => post({ error: String((e && e.message) || e) }));
})();
