#!/usr/bin/env node
// Summarises the V8 CPU profiles `node --cpu-prof --cpu-prof-dir=DIR …` writes (one per thread:
// the main thread, each gradient worker, tsx's loader threads): per thread, the profiled time, its
// idle share, garbage collection, the functions with the most self time, and the inclusive time
// under a few functions of the training step (issue #14's profile).
// Usage: node scripts/cpuprofile-summary.mjs DIR [fn,fn,…]
// e.g.   node --cpu-prof --cpu-prof-dir=/tmp/cp scripts/bench-train.mjs --run=synthetic-25k:full --steps=5
//        node scripts/cpuprofile-summary.mjs /tmp/cp
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: cpuprofile-summary.mjs DIR [fn,fn,…]\n');
  process.exit(2);
}
const focus = (
  process.argv[3] ??
  'sliceLoss,sasrecLoss,softCrossEntropy,seenMask,futureTargets,withItemFeatures,forward,lookup,batchMatMul,gradFunc,makeTensor,tensor2d,walkTensorContainer,dataSync,postMessage,padBatch,buildExamples,lengthBatches,applyGradients,evaluateRanking'
).split(',');
for (const f of readdirSync(dir)
  .filter((x) => x.endsWith('.cpuprofile'))
  .sort()) {
  const p = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const total = (p.endTime - p.startTime) / 1000;
  const self = new Map();
  const incl = new Map();
  let idle = 0;
  let gc = 0;
  p.samples.forEach((id, i) => {
    const dt = (p.timeDeltas[i + 1] ?? p.timeDeltas[i]) / 1000;
    const n = byId.get(id);
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += dt;
      return;
    }
    if (name === '(garbage collector)') gc += dt;
    const where = n.callFrame.url.split('?')[0].split('/').slice(-2).join('/');
    const key = `${name} ${where}:${n.callFrame.lineNumber}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const fn = byId.get(cur).callFrame.functionName;
      if (focus.includes(fn) && !seen.has(fn)) {
        seen.add(fn);
        incl.set(fn, (incl.get(fn) ?? 0) + dt);
      }
    }
  });
  const busy = Math.max(1e-9, total - idle);
  const pct = (v) => `${((100 * v) / busy).toFixed(1).padStart(5)}%`;
  console.log(
    `\n== ${f}: ${total.toFixed(0)} ms profiled, idle ${idle.toFixed(0)} ms (${((100 * idle) / total).toFixed(0)}%), ` +
      `garbage collection ${gc.toFixed(0)} ms; shares below are of the ${busy.toFixed(0)} busy ms`,
  );
  console.log(' self time:');
  for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15))
    console.log(`   ${v.toFixed(0).padStart(7)} ms ${pct(v)}  ${k}`);
  console.log(' inclusive:');
  for (const [k, v] of [...incl.entries()].sort((a, b) => b[1] - a[1]))
    console.log(`   ${v.toFixed(0).padStart(7)} ms ${pct(v)}  ${k}`);
}
