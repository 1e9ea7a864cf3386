/**
 * The names of an exported user encoder's inputs and output: the contract between the ONNX
 * exporters (models/sasrec/export-onnx.ts, models/two-tower/export-onnx.ts) and the ranker
 * that runs their graphs. Both user models share them, so the ranker runs either unchanged.
 */

/** The history input: item_ids (batch, seq) int64, left-padded with 0, seq ≤ maxLen. */
export const ENCODER_INPUT = 'item_ids';

/** The output: the user vector (batch, dim) float32 that is dotted with the item shards' rows. */
export const ENCODER_OUTPUT = 'user_vec';

/**
 * The second input of a two-tower user tower with context features: (batch, C) float32, the
 * request-context vector of src/core/context.ts. A graph without context features lacks it.
 */
export const ENCODER_CONTEXT_INPUT = 'context';
