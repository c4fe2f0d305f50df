// Reference probabilities from nsfwjs@4.4.0's own MobileNetV2 run by TF.js, to check
// training/pretrained.py's conversion (tests/test_pretrained.py compares against them).
//
// Run (Node >= 18; pure-JS CPU backend, no tfjs-node, no network once installed):
//
//   mkdir -p /tmp/tfjsref && cd /tmp/tfjsref && echo '{"private": true}' > package.json
//   npm install nsfwjs@4.4.0 @tensorflow/tfjs@4.22.0 buffer@6   # nsfwjs' peer deps: tfjs ^4, buffer ^6
//   python /path/to/repo/tests/test_pretrained.py /tmp/tfjsref/inputs   # -> inputs.f32 + inputs.json
//   node /path/to/repo/training/tfjs_reference.mjs /tmp/tfjsref/inputs \
//       /path/to/repo/training/fixtures/nsfwjs_tfjs_reference.json
//
// Packages are resolved from the current directory's node_modules (not from this file's folder).
// Reads INPUT_STEM.f32 (raw little-endian float32, N x 224 x 224 x 3 RGB in [0, 1]) and INPUT_STEM.json
// ({shape, inputs: descriptions}); writes OUT.json: versions, the class order, the inputs' descriptions
// and float64 means (to check they are recreated identically), and the N x 5 softmax probabilities.
//
// The probabilities are `nsfw.model.predict(x)` on the inputs exactly as given: nsfwjs' classify()
// divides by 255 and resizes with resizeBilinear only when the image is not 224x224, so the model's
// own input is RGB in [0, 1]. As a cross-check, classify() is also run on each image given as x * 255
// (224x224, so no resize); the largest difference between the two paths is recorded too.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const [stem, out] = process.argv.slice(2);
if (!stem || !out) {
  console.error("usage: node tfjs_reference.mjs INPUT_STEM OUT.json");
  process.exit(2);
}
if (os.endianness() !== "LE") throw new Error("inputs are little-endian float32");

const require = createRequire(path.join(process.cwd(), "package.json"));
const tf = require("@tensorflow/tfjs");
const nsfwjs = require("nsfwjs");
const nsfwDir = path.resolve(path.dirname(require.resolve("nsfwjs")), "..", "..");
const nsfwVersion = JSON.parse(fs.readFileSync(path.join(nsfwDir, "package.json"))).version;
const { NSFW_CLASSES } = require(path.join(nsfwDir, "dist", "cjs", "nsfw_classes.js"));
const classes = Object.keys(NSFW_CLASSES).sort((a, b) => a - b).map((k) => NSFW_CLASSES[k]);

await tf.setBackend("cpu");
await tf.ready();
const nsfw = await nsfwjs.load("MobileNetV2"); // the bundled dist/models/mobilenet_v2, no network

const meta = JSON.parse(fs.readFileSync(`${stem}.json`, "utf8"));
const bytes = fs.readFileSync(`${stem}.f32`);
const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
const [n, h, w, c] = meta.shape;
if (data.length !== n * h * w * c || h !== 224 || w !== 224 || c !== 3) {
  throw new Error(`expected N x 224 x 224 x 3 float32, got shape ${meta.shape} and ${data.length} values`);
}

const inputMeans = [];
for (let i = 0; i < n; i++) {
  let sum = 0;
  for (let j = i * h * w * c; j < (i + 1) * h * w * c; j++) sum += data[j];
  inputMeans.push(sum / (h * w * c));
}

const batch = tf.tensor4d(data, [n, h, w, c], "float32");
const predicted = nsfw.model.predict(batch);
const probabilities = await predicted.array();
predicted.dispose();

let classifyVsPredict = 0;
for (let i = 0; i < n; i++) {
  const image = tf.tidy(() => batch.slice([i, 0, 0, 0], [1, h, w, c]).reshape([h, w, c]).mul(255));
  const top = await nsfw.classify(image, 5);
  image.dispose();
  for (const { className, probability } of top) {
    classifyVsPredict = Math.max(classifyVsPredict,
      Math.abs(probability - probabilities[i][classes.indexOf(className)]));
  }
}
batch.dispose();

const result = {
  source: `npm nsfwjs@${nsfwVersion} MobileNetV2 (dist/models/mobilenet_v2), nsfw.model.predict`,
  tfjs: tf.version.tfjs,
  backend: tf.getBackend(),
  node: process.version,
  recreate_inputs: "tests/test_pretrained.py reference_inputs() (python tests/test_pretrained.py STEM writes them)",
  input_layout: "N x 224 x 224 x 3 float32 RGB in [0, 1]",
  classes,
  inputs: meta.inputs,
  input_means: inputMeans,
  classify_vs_predict_max_abs_diff: classifyVsPredict,
  probabilities,
};
fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
fs.writeFileSync(out, JSON.stringify(result, null, 1) + "\n");
console.log(`wrote ${out}: ${n} inputs; classify() vs predict() max |diff| ${classifyVsPredict.toExponential(2)}`);
