// What the Node scripts that run TF.js models here share (training/tfjs_teachers.mjs, the label
// teachers; bench/tfjs_peers.mjs, the stronger peers' cost): graph models and pictures read from
// local files, nothing fetched. tf and PNG are the caller's (its own node_modules).
import fs from "node:fs";
import path from "node:path";

// An IO handler for tf.loadGraphModel: model.json and its weight shards from disk.
export function localModel(jsonPath) {
  return {
    load: async () => {
      const model = JSON.parse(fs.readFileSync(jsonPath, "utf8"));
      const weightSpecs = [];
      const buffers = [];
      for (const group of model.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const file of group.paths) buffers.push(fs.readFileSync(path.join(path.dirname(jsonPath), file)));
      }
      const data = Buffer.concat(buffers);
      return {
        modelTopology: model.modelTopology,
        format: model.format,
        generatedBy: model.generatedBy,
        convertedBy: model.convertedBy,
        signature: model.signature,
        userDefinedMetadata: model.userDefinedMetadata,
        weightSpecs,
        weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
      };
    },
  };
}

// An 8-bit PNG as a [1, H, W, 3] RGB tensor in [0, 1] (what RVM and Meet take).
export function readRgbPng(tf, PNG, file) {
  const png = PNG.sync.read(fs.readFileSync(file));
  const rgb = new Float32Array(png.width * png.height * 3);
  for (let i = 0, j = 0; i < png.data.length; i += 4, j += 3) {
    rgb[j] = png.data[i] / 255;
    rgb[j + 1] = png.data[i + 1] / 255;
    rgb[j + 2] = png.data[i + 2] / 255;
  }
  return tf.tensor4d(rgb, [1, png.height, png.width, 3]);
}
