// ONNX Runtime side of tests/check_qdq_ort.py: runs ONNX models with onnxruntime-node
// (graphOptimizationLevel 'all', one thread) on inputs from raw files and writes the
// outputs as raw files. One job file (JSON) lists the work:
//   [{"model": F.onnx, "optimized": OPT.onnx (optional: ORT writes its optimized graph),
//     "inputs": {NAME: {"file": F, "dtype": "float32"|"uint8", "shape": [..]}},
//     "outputs": {NAME: FILE}}, ...]
//   node run_ort.js JOBS.json
const fs = require('fs');
const ort = require(process.env.ORT_MODULE || 'onnxruntime-node');

const arrays = { float32: Float32Array, uint8: Uint8Array, int32: Int32Array };

function readTensor(spec) {
  const buf = fs.readFileSync(spec.file);
  const Arr = arrays[spec.dtype];
  const data = new Arr(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  return new ort.Tensor(spec.dtype, data, spec.shape);
}

async function runJob(job) {
  const opts = { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all',
    executionMode: 'sequential' };
  if (job.optimized) opts.optimizedModelFilePath = job.optimized;
  const session = await ort.InferenceSession.create(job.model, opts);
  if (!job.outputs) return;
  const feeds = {};
  for (const [name, spec] of Object.entries(job.inputs)) feeds[name] = readTensor(spec);
  const result = await session.run(feeds, Object.keys(job.outputs));
  for (const [name, file] of Object.entries(job.outputs)) {
    const t = result[name];
    fs.writeFileSync(file, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
}

async function main() {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  for (const job of jobs) await runJob(job);
}
main().catch((e) => { console.error(e.message || e); process.exit(1); });
