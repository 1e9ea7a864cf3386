import type { Int4Quantized } from '../../src/core/quantize.ts';

/** One weight as the ONNX exporters store it (SASRec encoder, two-tower user tower). */
export type QuantizedTensor =
  | { kind: 'f32'; shape: number[]; data: Float32Array }
  /** axis 0: one scale per row (embeddings); axis 1: one per column (matrices). */
  | { kind: 'int8'; shape: [number, number]; q: Int8Array; scales: Float32Array; axis: 0 | 1 }
  | { kind: 'int4'; shape: [number, number]; int4: Int4Quantized };
