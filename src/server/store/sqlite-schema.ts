/**
 * The SQLite round store's schema and its migrations (`PRAGMA user_version`).
 *
 * - 0: rounds (the whole float64 sum rewritten per batch), updates. A round closed when it
 *   reached `minReports`.
 * - 2: `failed` rounds (closed under their minimum, never aggregated, sum discarded); the sum
 *   as a checkpoint (`sums`, holding receipts 1..`sums_receipt`) plus `sum_log`, the updates
 *   counted since; per update the digest of its values and the hash of its ticket; `tickets`.
 *   A version-0 database is migrated in one transaction: its sums are complete checkpoints,
 *   and a `closing` round under its minimum becomes `failed`.
 */
import type Database from 'better-sqlite3';
import { LocalrecError } from '../../core/errors.ts';

/** The schema version this code writes. */
export const SCHEMA_VERSION = 2;

const ROUNDS = (name: string) => `
CREATE TABLE ${name} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  state TEXT NOT NULL CHECK (state IN ('open', 'closing', 'closed', 'failed')),
  spec TEXT NOT NULL,
  reports INTEGER NOT NULL DEFAULT 0,
  -- float64 little-endian, every slice concatenated; NULL for a failed round
  sums BLOB,
  -- sums holds the updates with receipts 1..sums_receipt; sum_log holds the rest
  sums_receipt INTEGER NOT NULL DEFAULT 0,
  opened_at INTEGER NOT NULL,
  closing_at INTEGER,
  closed_at INTEGER,
  close_reason TEXT
)`;

const ONE_OPEN = `CREATE UNIQUE INDEX rounds_one_open ON rounds (state) WHERE state = 'open'`;

const REST = `
CREATE UNIQUE INDEX updates_values ON updates (round_id, values_digest)
  WHERE values_digest IS NOT NULL;
-- The updates counted since the sum's checkpoint, as posted (format 1: a delta) or as float64
-- values (format 0); deleted when the next checkpoint folds them in.
CREATE TABLE sum_log (
  round_id INTEGER NOT NULL REFERENCES rounds (id),
  receipt INTEGER NOT NULL,
  format INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (round_id, receipt)
);
CREATE TABLE tickets (
  hash TEXT PRIMARY KEY,
  round_id INTEGER NOT NULL REFERENCES rounds (id),
  -- hash of the client network; NULL once the round has left open
  network TEXT,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  update_id TEXT
) WITHOUT ROWID;
CREATE INDEX tickets_network ON tickets (round_id, network) WHERE network IS NOT NULL;
`;

const FRESH = `
${ROUNDS('rounds')};
${ONE_OPEN};
CREATE TABLE updates (
  round_id INTEGER NOT NULL REFERENCES rounds (id),
  update_id TEXT NOT NULL,
  digest TEXT NOT NULL,
  receipt INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  values_digest TEXT,
  ticket TEXT,
  PRIMARY KEY (round_id, update_id)
) WITHOUT ROWID;
${REST}
PRAGMA user_version = ${SCHEMA_VERSION};
`;

const FROM_0 = `
${ROUNDS('rounds_v2')};
INSERT INTO rounds_v2 (id, state, spec, reports, sums, sums_receipt, opened_at, closing_at,
    closed_at, close_reason)
  SELECT id, state, spec, reports, sums, reports, opened_at, closing_at, closed_at, close_reason
  FROM rounds;
DROP TABLE rounds;
ALTER TABLE rounds_v2 RENAME TO rounds;
${ONE_OPEN};
-- A round the old rules left closing under its minimum (deadline, owner) is never aggregated.
UPDATE rounds SET state = 'failed', sums = NULL, closed_at = closing_at
  WHERE state = 'closing' AND reports < json_extract(spec, '$.minReports');
ALTER TABLE updates ADD COLUMN values_digest TEXT;
ALTER TABLE updates ADD COLUMN ticket TEXT;
${REST}
PRAGMA user_version = ${SCHEMA_VERSION};
`;

/** Creates the schema in a new database, or migrates an older one; refuses a newer one. */
export function migrate(db: Database.Database, path: string): void {
  const version = () => db.pragma('user_version', { simple: true }) as number;
  const check = (v: number) => {
    if (v > SCHEMA_VERSION)
      throw new LocalrecError(
        'unsupported-version',
        `round store ${path} has schema version ${v}; this localrec reads up to ${SCHEMA_VERSION} (upgrade localrec)`,
      );
  };
  check(version());
  if (version() === SCHEMA_VERSION) return;
  // Rebuilding a table that others reference: foreign keys off around the transaction (they
  // cannot be switched inside one), checked before it commits.
  db.pragma('foreign_keys = OFF');
  try {
    db.transaction(() => {
      // Another process may have migrated it while this one waited for the lock.
      const v = version();
      check(v);
      if (v === SCHEMA_VERSION) return;
      const hasRounds = db
        .prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rounds'`)
        .get();
      db.exec(hasRounds ? FROM_0 : FRESH);
      const broken = db.pragma('foreign_key_check') as unknown[];
      if (broken.length > 0)
        throw new LocalrecError(
          'internal',
          `migrating ${path}: ${broken.length} rows break foreign keys; nothing was changed`,
        );
    }).immediate();
  } finally {
    db.pragma('foreign_keys = ON');
  }
}
