// Applies kconvert's text-preprocessing.json to raw strings, as a JavaScript app would, and feeds
// the result to the TF.js model written beside it.  Usage: node text_preprocessing.js JOBS.json,
// JOBS a list of {"model": dir, "strings": [...]}; prints [{"ids": [[...]], "outputs": [[...]]}].
const fs = require("fs");
const path = require("path");
const tf = require("@tensorflow/tfjs");

function tokens(step, text) {
  let s = text;
  if (step.standardize === "lower" || step.standardize === "lower_and_strip_punctuation") s = s.toLowerCase();
  if (step.strip_regex) s = s.replace(new RegExp(step.strip_regex, "g"), "");
  let parts = step.split === "whitespace" ? s.split(/\s+/).filter((t) => t.length > 0)
    : step.split === "character" ? Array.from(s) : [s];
  if (step.ngrams) {
    const all = [];
    for (const n of step.ngrams) for (let i = 0; i + n <= parts.length; i++) all.push(parts.slice(i, i + n).join(" "));
    parts = all;
  }
  return parts;
}

function ids(step, strings) {
  const index = new Map(step.vocabulary.map((t, i) => [t, i]));
  const oov = step.num_oov_indices ? index.get(step.oov_token) : null;
  const lookup = (t) => (index.has(t) && t !== step.mask_token ? index.get(t) : oov);
  if (step.kind === "StringLookup") return strings.map((row) => row.map(lookup));
  return strings.map((text) => {
    const row = tokens(step, text).map(lookup).filter((i) => i !== null).slice(0, step.output_sequence_length);
    while (row.length < step.output_sequence_length) row.push(0);
    return row;
  });
}

async function load(dir) {
  const json = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8"));
  const buffers = json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p))));
  const data = Buffer.concat(buffers);
  return tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
  }));
}

async function main() {
  const results = [];
  for (const job of JSON.parse(fs.readFileSync(process.argv[2], "utf8"))) {
    const state = JSON.parse(fs.readFileSync(path.join(job.model, "text-preprocessing.json"), "utf8"));
    const model = await load(job.model);
    const step = state.steps[0];
    const x = ids(step, job.strings);
    const y = model.predict(tf.tensor(x, undefined, "int32"));
    results.push({ ids: x, outputs: await y.array() });
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((err) => { console.error(err); process.exit(1); });
