import type { CliOption } from './command.ts';

/**
 * Flags of the training loop (models/training/loop.ts) that mean the same for every model's
 * command (train, two-tower); each command lists them among its own flags, in its own order.
 */
export const trainingLoopOptions = {
  epochs: { type: 'string', description: 'most epochs to train' },
  lr: { type: 'string', description: 'Adam learning rate' },
  patience: { type: 'string', description: 'evaluations without validation gain before stopping' },
  'eval-every': { type: 'string', description: 'epochs between validation runs' },
  'lr-patience': {
    type: 'string',
    description: 'halve the learning rate after this many evaluations without a gain (0 = never)',
  },
} satisfies Record<string, CliOption>;
