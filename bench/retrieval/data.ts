/**
 * Benchmark data: synthetic item embeddings shaped like trained ones, and Recall@k.
 *
 * Trained recommender embeddings are not isotropic noise: items form clusters (genres, tastes)
 * and popular items have larger norms. So rows are drawn as
 * `row = (center[c] + 0.8 · noise) · exp(0.25 · z)` with 256 centers and noise both
 * N(0, I/dim) and z ~ N(0, 1) (a log-normal norm spread), and queries (user vectors) as
 * `center[c'] + 0.8 · noise` for a random cluster c'. Plain isotropic Gaussian rows are also
 * available, as the hardest case for int8 recall (no gaps between scores).
 */
import { Rng } from '../../src/core/random.ts';

/** Rows and queries, row-major float32. */
export interface Embeddings {
  /** (count, dim) */
  rows: Float32Array;
  /** Each (dim). */
  queries: Float32Array[];
  /** How they were drawn, for the report. */
  description: string;
}

/** Standard normals two at a time (Box-Muller with both branches): half the log/sqrt calls. */
function normals(rng: Rng, out: Float32Array, scale: number): void {
  for (let i = 0; i < out.length; i += 2) {
    let u = 0;
    while (u === 0) u = rng.next();
    const r = Math.sqrt(-2 * Math.log(u)) * scale;
    const t = 2 * Math.PI * rng.next();
    out[i] = r * Math.cos(t);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(t);
  }
}

/** Clustered rows with log-normal norms, and queries near cluster centers (see module comment). */
export function clusteredEmbeddings(
  count: number,
  dim: number,
  nQueries: number,
  seed: number,
): Embeddings {
  const rng = new Rng(seed);
  const clusters = 256;
  const sd = 1 / Math.sqrt(dim);
  const centers = new Float32Array(clusters * dim);
  normals(rng, centers, sd);
  const rows = new Float32Array(count * dim);
  normals(rng, rows, 0.8 * sd);
  const z = new Float32Array(count);
  normals(rng, z, 0.25);
  for (let r = 0; r < count; r++) {
    const c = rng.int(clusters) * dim;
    const norm = Math.exp(z[r]!);
    for (let j = 0; j < dim; j++) rows[r * dim + j] = (rows[r * dim + j]! + centers[c + j]!) * norm;
  }
  const queries = Array.from({ length: nQueries }, () => {
    const q = new Float32Array(dim);
    normals(rng, q, 0.8 * sd);
    const c = rng.int(clusters) * dim;
    for (let j = 0; j < dim; j++) q[j] = q[j]! + centers[c + j]!;
    return q;
  });
  return {
    rows,
    queries,
    description: `clustered: 256 centers ~ N(0, I/${dim}); row = (center + 0.8·N(0, I/${dim})) · exp(0.25·N(0,1)); query = center + 0.8·N(0, I/${dim})`,
  };
}

/** Isotropic Gaussian rows N(0, I/dim) with the same norm spread; queries N(0, I/dim). */
export function gaussianEmbeddings(
  count: number,
  dim: number,
  nQueries: number,
  seed: number,
): Embeddings {
  const rng = new Rng(seed);
  const sd = 1 / Math.sqrt(dim);
  const rows = new Float32Array(count * dim);
  normals(rng, rows, sd);
  const z = new Float32Array(count);
  normals(rng, z, 0.25);
  for (let r = 0; r < count; r++) {
    const norm = Math.exp(z[r]!);
    for (let j = 0; j < dim; j++) rows[r * dim + j] = rows[r * dim + j]! * norm;
  }
  const queries = Array.from({ length: nQueries }, () => {
    const q = new Float32Array(dim);
    normals(rng, q, sd);
    return q;
  });
  return {
    rows,
    queries,
    description: `gaussian: row = N(0, I/${dim}) · exp(0.25·N(0,1)); query = N(0, I/${dim})`,
  };
}

/** |got ∩ truth| / |truth|: the share of the exact top k that a search found. */
export function recall(got: ArrayLike<number>, truth: ArrayLike<number>): number {
  if (truth.length === 0) return 1;
  const want = new Set(Array.from(truth));
  let hit = 0;
  for (let i = 0; i < got.length; i++) if (want.has(got[i]!)) hit++;
  return hit / truth.length;
}
