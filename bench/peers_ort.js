// ONNX Runtime side of bench/int8_latency: batch-1 median latency of an ONNX model
// (graphOptimizationLevel 'all', sequential execution, intraOpNumThreads = threads).
//   node peers_ort.js MODEL.onnx THREADS REPS [N,C,H,W]  -> prints the median ms
// (input shape default 1,3,224,224; bench/small_models passes the demo's 1,1,28,28)
const ort = require(process.env.ORT_MODULE || 'onnxruntime-node');

async function main() {
  const [file, threads, reps, shapeArg] = process.argv.slice(2);
  const shape = (shapeArg || '1,3,224,224').split(',').map(Number);
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: Number(threads), interOpNumThreads: 1,
    graphOptimizationLevel: 'all', executionMode: 'sequential',
  });
  const input = new ort.Tensor('float32',
    new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => Math.random() * 2 - 1), shape);
  for (let i = 0; i < 3; i++) await session.run({ input });
  const t = [];
  for (let i = 0; i < Number(reps); i++) {
    const s = process.hrtime.bigint();
    await session.run({ input });
    t.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  t.sort((a, b) => a - b);
  console.log(t[Math.floor(t.length / 2)].toFixed(3));
}
main().catch((e) => { console.error(e.message || e); process.exit(1); });
