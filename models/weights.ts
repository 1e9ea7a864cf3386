/** A named weight as plain data, independent of tfjs: what checkpoints, export and quantization pass around. */
export interface NamedArray {
  data: Float32Array;
  shape: number[];
}

export type WeightArrays = Record<string, NamedArray>;
