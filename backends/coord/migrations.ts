import type { Database } from 'better-sqlite3';
import { migrateSqlite, stepLedger } from '../../kit/sqlite-migrate.js';
import { BATCHES } from './migration-batch.js';
import { HANDOFF } from './migration-handoff.js';
import { INITIAL_SCHEMA } from './migration-initial.js';
import { LOCK_FREE_MESSAGES } from './migration-lockfree.js';
import { LOCK_FREE_WRITES } from './migration-lockfree-2.js';
import { MEET } from './migration-meet.js';
import { POLL_READ } from './migration-poll-read.js';

/** One step of the schema; `version` is its position, starting at 1. */
export interface Migration {
  version: number;
  name: string;
  /** SQLite's dialect. */
  sql: string;
  /** The same step in PostgreSQL's dialect (backends/coord/pg-store.ts); a step without it cannot open a PostgreSQL store. */
  postgres?: string;
}

/*
 * The schema, as an ordered list, each step in both dialects. Applied steps are recorded in
 * schema_version; a database is brought forward one step per transaction.
 * Never edit a released step: append a new one.
 *
 * Times are INTEGER milliseconds since the epoch. Ids that readers page or
 * resume by (messages, events, task order) are AUTOINCREMENT so they are
 * never reused, even after rows are trimmed.
 */
export const MIGRATIONS: readonly Migration[] = [
  INITIAL_SCHEMA,
  {
    version: 2,
    name: 'work claims and consultation threads',
    sql: `
      CREATE TABLE work_claims (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        id          TEXT NOT NULL UNIQUE,
        channel     TEXT NOT NULL,
        repo        TEXT NOT NULL,
        agent_id    TEXT NOT NULL,
        paths       TEXT NOT NULL,              -- JSON array of normalized paths or globs
        depends_on  TEXT NOT NULL,              -- JSON array
        modules     TEXT NOT NULL,              -- JSON array
        intent      TEXT NOT NULL,
        exclusive   INTEGER NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('active', 'released', 'expired')),
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        released_at INTEGER,
        released_by TEXT
      );
      CREATE INDEX work_claims_live ON work_claims (channel, repo, expires_at) WHERE status = 'active';
      CREATE INDEX work_claims_expiry ON work_claims (expires_at) WHERE status = 'active';

      CREATE TABLE threads (
        seq              INTEGER PRIMARY KEY AUTOINCREMENT,
        id               TEXT NOT NULL UNIQUE,
        channel          TEXT NOT NULL,
        repo             TEXT NOT NULL,
        subject          TEXT NOT NULL,
        opened_by        TEXT NOT NULL,
        participants     TEXT NOT NULL,         -- JSON array
        claim_ids        TEXT NOT NULL,         -- JSON array
        paths            TEXT NOT NULL,         -- JSON array
        status           TEXT NOT NULL CHECK (status IN ('open', 'proposed', 'resolved', 'closed', 'cancelled')),
        proposal         TEXT,
        proposal_by      TEXT,
        proposal_message INTEGER,
        approvals        TEXT NOT NULL,         -- JSON array
        resolution       TEXT,
        resolved_how     TEXT,
        resolved_at      INTEGER,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL,
        auto_resolve_at  INTEGER
      );
      CREATE INDEX threads_by_scope ON threads (channel, repo, status);
      CREATE INDEX threads_timeout ON threads (auto_resolve_at) WHERE status IN ('open', 'proposed');

      CREATE TABLE thread_participants (
        agent_id  TEXT NOT NULL,
        thread_id TEXT NOT NULL REFERENCES threads (id),
        PRIMARY KEY (agent_id, thread_id)
      ) WITHOUT ROWID;

      CREATE TABLE thread_messages (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        thread_id  TEXT NOT NULL REFERENCES threads (id),
        agent_id   TEXT,
        kind       TEXT NOT NULL,
        content    TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX thread_messages_by_thread ON thread_messages (thread_id, id);
    `,
    // PostgreSQL: the same tables; BIGSERIAL sequence numbers (written under the store's write lock, so in commit order) and BIGINT times.
    postgres: `
      CREATE TABLE work_claims (
        seq         BIGSERIAL PRIMARY KEY,
        id          TEXT NOT NULL UNIQUE,
        channel     TEXT NOT NULL,
        repo        TEXT NOT NULL,
        agent_id    TEXT NOT NULL,
        paths       TEXT NOT NULL,
        depends_on  TEXT NOT NULL,
        modules     TEXT NOT NULL,
        intent      TEXT NOT NULL,
        exclusive   INTEGER NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('active', 'released', 'expired')),
        created_at  BIGINT NOT NULL,
        expires_at  BIGINT NOT NULL,
        released_at BIGINT,
        released_by TEXT
      );
      CREATE INDEX work_claims_live ON work_claims (channel, repo, expires_at) WHERE status = 'active';
      CREATE INDEX work_claims_expiry ON work_claims (expires_at) WHERE status = 'active';

      CREATE TABLE threads (
        seq              BIGSERIAL PRIMARY KEY,
        id               TEXT NOT NULL UNIQUE,
        channel          TEXT NOT NULL,
        repo             TEXT NOT NULL,
        subject          TEXT NOT NULL,
        opened_by        TEXT NOT NULL,
        participants     TEXT NOT NULL,
        claim_ids        TEXT NOT NULL,
        paths            TEXT NOT NULL,
        status           TEXT NOT NULL CHECK (status IN ('open', 'proposed', 'resolved', 'closed', 'cancelled')),
        proposal         TEXT,
        proposal_by      TEXT,
        proposal_message BIGINT,
        approvals        TEXT NOT NULL,
        resolution       TEXT,
        resolved_how     TEXT,
        resolved_at      BIGINT,
        created_at       BIGINT NOT NULL,
        updated_at       BIGINT NOT NULL,
        auto_resolve_at  BIGINT
      );
      CREATE INDEX threads_by_scope ON threads (channel, repo, status);
      CREATE INDEX threads_timeout ON threads (auto_resolve_at) WHERE status IN ('open', 'proposed');

      CREATE TABLE thread_participants (
        agent_id  TEXT NOT NULL,
        thread_id TEXT NOT NULL REFERENCES threads (id),
        PRIMARY KEY (agent_id, thread_id)
      );

      CREATE TABLE thread_messages (
        id         BIGSERIAL PRIMARY KEY,
        thread_id  TEXT NOT NULL REFERENCES threads (id),
        agent_id   TEXT,
        kind       TEXT NOT NULL,
        content    TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE INDEX thread_messages_by_thread ON thread_messages (thread_id, id);
    `,
  },
  {
    version: 3,
    name: 'thread notices and one live thread per conflict',
    // messages.thread_id: the thread an inbox notice is about (kind "thread" on the wire).
    // threads.conflict_key: the sorted claim ids of a thread about two or more claims; at
    // most one thread per key has not ended, so two announces or opens cannot both open one.
    sql: `
      ALTER TABLE messages ADD COLUMN thread_id TEXT;
      ALTER TABLE threads ADD COLUMN conflict_key TEXT;
      CREATE UNIQUE INDEX threads_one_per_conflict ON threads (conflict_key)
        WHERE conflict_key IS NOT NULL AND status IN ('open', 'proposed', 'resolved');
    `,
    postgres: `
      ALTER TABLE messages ADD COLUMN thread_id TEXT;
      ALTER TABLE threads ADD COLUMN conflict_key TEXT;
      CREATE UNIQUE INDEX threads_one_per_conflict ON threads (conflict_key)
        WHERE conflict_key IS NOT NULL AND status IN ('open', 'proposed', 'resolved');
    `,
  },
  {
    version: 4,
    name: 'retention indexes',
    // Retention (retention.ts) deletes a message's inbox copies by message id,
    // and finds finished tasks by age and, per channel, by posting order.
    sql: `
      CREATE INDEX inbox_by_message ON inbox (message_id);
      CREATE INDEX tasks_finished ON tasks (completed_at) WHERE status IN ('complete', 'failed');
      CREATE INDEX tasks_finished_by_channel ON tasks (channel, seq) WHERE status IN ('complete', 'failed');
    `,
    postgres: `
      CREATE INDEX inbox_by_message ON inbox (message_id);
      CREATE INDEX tasks_finished ON tasks (completed_at) WHERE status IN ('complete', 'failed');
      CREATE INDEX tasks_finished_by_channel ON tasks (channel, seq) WHERE status IN ('complete', 'failed');
    `,
  },
  {
    version: 5,
    name: 'retention indexes for ended claims and threads',
    // Retention finds ended claims by the time they ended and ended threads by their last change (retention.ts).
    sql: `
      CREATE INDEX work_claims_ended ON work_claims ((COALESCE(released_at, expires_at))) WHERE status IN ('released', 'expired');
      CREATE INDEX threads_ended ON threads (updated_at) WHERE status IN ('resolved', 'closed', 'cancelled');
    `,
    postgres: `
      CREATE INDEX work_claims_ended ON work_claims ((COALESCE(released_at, expires_at))) WHERE status IN ('released', 'expired');
      CREATE INDEX threads_ended ON threads (updated_at) WHERE status IN ('resolved', 'closed', 'cancelled');
    `,
  },
  {
    version: 6,
    name: 'agent states, claim symbols and broadcast priority',
    // agents.state (working | idle | waiting | blocked; NULL reads as idle), what a waiting or blocked
    // agent waits for, its current file and thread, and when it last said so (agent-state.ts);
    // work_claims.target_symbols: the symbols a claim touches in its files (claim-score.ts);
    // messages.priority: a broadcast's priority (NULL on other messages).
    sql: `
      ALTER TABLE agents ADD COLUMN state TEXT;
      ALTER TABLE agents ADD COLUMN waiting_for TEXT;
      ALTER TABLE agents ADD COLUMN current_file TEXT;
      ALTER TABLE agents ADD COLUMN current_thread TEXT;
      ALTER TABLE agents ADD COLUMN state_at INTEGER;
      ALTER TABLE work_claims ADD COLUMN target_symbols TEXT;
      ALTER TABLE messages ADD COLUMN priority TEXT;
    `,
    postgres: `
      ALTER TABLE agents ADD COLUMN state TEXT;
      ALTER TABLE agents ADD COLUMN waiting_for TEXT;
      ALTER TABLE agents ADD COLUMN current_file TEXT;
      ALTER TABLE agents ADD COLUMN current_thread TEXT;
      ALTER TABLE agents ADD COLUMN state_at BIGINT;
      ALTER TABLE work_claims ADD COLUMN target_symbols TEXT;
      ALTER TABLE messages ADD COLUMN priority TEXT;
    `,
  },
  // [pg-speed] step 7: message writes without the global lock (PostgreSQL; SQLite's step is empty).
  LOCK_FREE_MESSAGES,
  // [pg-speed] step 8: wake-ups after commit, last-seen once a second (PostgreSQL; SQLite's step is empty).
  LOCK_FREE_WRITES,
  // [pg-speed] step 9: sends hand off to parked polls; task writes without agent row locks (PostgreSQL; SQLite's step is empty).
  HANDOFF,
  // [pg-speed] step 10: sends and polls that meet at a gateway commit together (PostgreSQL; SQLite's step is empty).
  BATCHES,
  // [pg-speed] step 11: sends and polls that meet at a gateway commit in one transaction (PostgreSQL; SQLite's step is empty).
  MEET,
  // [pg-speed] step 12: a poll reads only its page's rows; no foreign key from inbox to messages (PostgreSQL; SQLite's step is empty).
  POLL_READ,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database to SCHEMA_VERSION, one step per IMMEDIATE transaction
 * (kit/sqlite-migrate.ts), and returns the version it is at. Refuses a
 * database written by a newer version rather than guessing.
 */
export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): number {
  const steps = migrations.map((m) => ({ version: m.version, name: m.name, sqlite: m.sql }));
  return migrateSqlite(
    db,
    steps,
    stepLedger('schema_version'),
    (found, latest) =>
      `The coordination database is at schema version ${found}, newer than this stonegate understands (${latest}); upgrade stonegate or point --db at another file.`,
  );
}
