// Loads TF.js layers models from disk with the real @tensorflow/tfjs (pure JavaScript, CPU backend)
// and runs them, so that kconvert can compare what TF.js computes with its own runtime.
//
//   node predict.js COMPANION JOBS.json
//   node predict.js COMPANION --serve
//
// COMPANION is kconvert's packaged kconvert-layers.js, the only module this script ever loads besides
// tfjs.  JOBS.json is a list of {"model": dir-or-model.json, "inputs": [tensor...], "layers":
// [name...], "result": path, "companion": bool}; "companion" is true when kconvert found its own
// module beside the model (kconvert refuses any other file of that name before this runs), and the
// packaged module is then loaded (as a user would load the copy) before the model.  No path from a
// job is ever required.  A tensor is {"shape": [...], "dtype": "float32"|"int32", "data": base64 of
// little-endian values}.  Each result file receives {"outputs": [tensor...], "activations":
// {layer: tensor}} or {"error": message}: one model's failure does not stop the others.
// With --serve (kconvert's harness server), each line read from stdin is "N JOBS.json": that list
// is run as above, then "kconvert-harness done N" is written to stdout; it ends with its stdin.
"use strict";

const fs = require("fs");
const path = require("path");
const tf = require("@tensorflow/tfjs");

tf.env().set("PROD", true);  // no "install tfjs-node" banner and no debug checks

const DTYPES = { float32: Float32Array, int32: Int32Array };
const [COMPANION, JOBS] = process.argv.slice(2);

function decode(t) {
  const bytes = Buffer.from(t.data, "base64");
  const Type = DTYPES[t.dtype];
  if (!Type) throw new Error(`unsupported input dtype ${t.dtype}`);
  const copy = new Uint8Array(bytes);  // aligned copy
  return tf.tensor(new Type(copy.buffer), t.shape, t.dtype);
}

function encode(tensor) {
  const values = tensor.dtype === "int32" ? Int32Array.from(tensor.dataSync()) : Float32Array.from(tensor.dataSync());
  return { shape: tensor.shape, dtype: tensor.dtype === "int32" ? "int32" : "float32",
           data: Buffer.from(values.buffer).toString("base64") };
}

// An IOHandler reading model.json and its shards from disk, as tf.io.browserFiles or tfjs-node's
// file:// handler would: every group's shards are concatenated in manifest order.
function fileHandler(modelPath) {
  const jsonPath = fs.statSync(modelPath).isDirectory() ? path.join(modelPath, "model.json") : modelPath;
  const dir = path.dirname(jsonPath);
  return {
    async load() {
      const json = JSON.parse(fs.readFileSync(jsonPath, "utf8"));
      const specs = [];
      const buffers = [];
      for (const group of json.weightsManifest || []) {
        for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
        specs.push(...group.weights);
      }
      const all = Buffer.concat(buffers);
      return {
        modelTopology: json.modelTopology,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        trainingConfig: json.trainingConfig,
        userDefinedMetadata: json.userDefinedMetadata,
      };
    },
  };
}

async function run(job) {
  if (job.companion === true) require(path.resolve(COMPANION)).register(tf);  // registering again is harmless
  const model = await tf.loadLayersModel(fileHandler(job.model));
  const inputs = job.inputs.map(decode);
  const probes = (job.layers || []).filter((name) => {
    // an input layer's output is a model input, which tf.model cannot also list as an output
    try {
      const layer = model.getLayer(name);
      return layer.getClassName() !== "InputLayer" && !Array.isArray(layer.output);
    } catch (e) { return false; }
  });
  const outputs = [].concat(model.outputs, probes.map((name) => model.getLayer(name).output));
  const probe = tf.model({ inputs: model.inputs, outputs });
  let results = probe.predict(inputs.length === 1 ? inputs[0] : inputs);
  results = Array.isArray(results) ? results : [results];
  const n = model.outputs.length;
  const activations = {};
  probes.forEach((name, i) => { activations[name] = encode(results[n + i]); });
  return { outputs: results.slice(0, n).map(encode), outputNames: model.outputNames, activations, tfjs: tf.version.tfjs };
}

async function runList(file) {
  const jobs = JSON.parse(fs.readFileSync(file, "utf8"));
  for (const job of jobs) {
    let result;
    try {
      result = await run(job);
    } catch (err) {
      result = { error: String(err && err.message ? err.message : err) };
    }
    fs.writeFileSync(job.result, JSON.stringify(result));
    tf.disposeVariables();
    if (job.companion === true) unregisterCompanion();
  }
}

// The classes tfjs knows before any companion is registered: each job sees tfjs as a fresh Node would,
// whatever an earlier job registered (the companion replaces stock classes, GRU among them).
const CLASSES = tf.serialization.SerializationMap.getMap().classNameMap;
const STOCK = Object.assign({}, CLASSES);
function unregisterCompanion() {
  for (const name of Object.keys(CLASSES)) if (!(name in STOCK)) delete CLASSES[name];
  Object.assign(CLASSES, STOCK);
}

async function serve() {
  const replies = process.stdout;
  console.log = console.info = console.error;  // what tfjs prints goes to stderr, not into the replies
  const requests = require("readline").createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of requests) {
    const space = line.indexOf(" ");
    await runList(line.slice(space + 1));
    replies.write(`kconvert-harness done ${line.slice(0, space)}\n`);
  }
}

(JOBS === "--serve" ? serve() : runList(JOBS)).catch((err) => { console.error(String(err && err.stack ? err.stack : err)); process.exit(2); });
