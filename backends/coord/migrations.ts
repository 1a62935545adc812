import type { Database } from 'better-sqlite3';
import { migrateSqlite, stepLedger } from '../../kit/sqlite-migrate.js';

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
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE channels (
        name        TEXT PRIMARY KEY,
        description TEXT,
        created_by  TEXT,
        created_at  INTEGER NOT NULL
      );
      INSERT INTO channels (name, description, created_by, created_at)
        VALUES ('default', 'The channel used when a call names none.', NULL, CAST(strftime('%s', 'now') AS INTEGER) * 1000);

      CREATE TABLE agents (
        id             TEXT PRIMARY KEY,
        role           TEXT NOT NULL,
        capabilities   TEXT NOT NULL,          -- JSON array of strings
        group_name     TEXT,
        channel        TEXT NOT NULL,
        webhook_url    TEXT,
        registered_at  INTEGER NOT NULL,
        last_heartbeat INTEGER NOT NULL
      );
      CREATE INDEX agents_by_channel ON agents (channel, group_name);

      CREATE TABLE messages (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        channel    TEXT NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('direct', 'broadcast')),
        from_agent TEXT NOT NULL,
        to_agent   TEXT,                       -- NULL for a broadcast
        group_name TEXT,                       -- target group of a broadcast
        content    TEXT NOT NULL,
        sent_at    INTEGER NOT NULL
      );
      CREATE INDEX messages_by_channel ON messages (channel, id);
      CREATE INDEX messages_dm ON messages (channel, from_agent, to_agent, id) WHERE kind = 'direct';
      CREATE INDEX messages_group ON messages (channel, group_name, id) WHERE kind = 'broadcast';

      -- One row per (recipient, message): direct messages have one, broadcasts
      -- one per agent reached. Polls read this in message-id order.
      CREATE TABLE inbox (
        recipient  TEXT NOT NULL,
        channel    TEXT NOT NULL,
        message_id INTEGER NOT NULL REFERENCES messages (id),
        PRIMARY KEY (recipient, channel, message_id)
      ) WITHOUT ROWID;

      -- Per agent and channel: the highest message id acknowledged.
      CREATE TABLE cursors (
        agent_id TEXT NOT NULL,
        channel  TEXT NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (agent_id, channel)
      ) WITHOUT ROWID;

      CREATE TABLE tasks (
        seq                 INTEGER PRIMARY KEY AUTOINCREMENT,  -- posting order ("oldest first")
        id                  TEXT NOT NULL UNIQUE,
        channel             TEXT NOT NULL,
        description         TEXT NOT NULL,
        posted_by           TEXT NOT NULL,
        required_capability TEXT,
        priority            INTEGER NOT NULL,
        metadata            TEXT NOT NULL,      -- JSON object
        status              TEXT NOT NULL CHECK (status IN ('pending', 'claimed', 'complete', 'failed')),
        claimed_by          TEXT,
        claimed_at          INTEGER,
        lease_expires_at    INTEGER,
        epoch               INTEGER NOT NULL DEFAULT 0,
        attempts            INTEGER NOT NULL DEFAULT 0,
        result              TEXT,
        created_at          INTEGER NOT NULL,
        updated_at          INTEGER NOT NULL,
        completed_at        INTEGER
      );
      CREATE INDEX tasks_queue ON tasks (channel, status, priority DESC, seq);
      CREATE INDEX tasks_leases ON tasks (lease_expires_at) WHERE status = 'claimed';

      CREATE TABLE state (
        channel    TEXT NOT NULL,
        key        TEXT NOT NULL,
        value      TEXT NOT NULL,               -- JSON
        version    INTEGER NOT NULL,
        updated_by TEXT,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (channel, key)
      ) WITHOUT ROWID;

      CREATE TABLE events (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        type       TEXT NOT NULL,
        channel    TEXT,
        data       TEXT NOT NULL,               -- JSON object
        created_at INTEGER NOT NULL
      );
    `,
    // PostgreSQL: the same tables with BIGINT times. Message and event ids
    // come from counter rows (sequences) updated in the writing transaction,
    // not from SERIAL: a sequence hands out ids before commit, so a reader
    // could see id 11 committed before id 10 and move a cursor past it.
    postgres: `
      CREATE TABLE channels (
        name        TEXT PRIMARY KEY,
        description TEXT,
        created_by  TEXT,
        created_at  BIGINT NOT NULL
      );
      INSERT INTO channels (name, description, created_by, created_at)
        VALUES ('default', 'The channel used when a call names none.', NULL, (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT);

      CREATE TABLE agents (
        id             TEXT PRIMARY KEY,
        role           TEXT NOT NULL,
        capabilities   TEXT NOT NULL,
        group_name     TEXT,
        channel        TEXT NOT NULL,
        webhook_url    TEXT,
        registered_at  BIGINT NOT NULL,
        last_heartbeat BIGINT NOT NULL
      );
      CREATE INDEX agents_by_channel ON agents (channel, group_name);

      CREATE TABLE sequences (
        name  TEXT PRIMARY KEY,
        value BIGINT NOT NULL
      );
      INSERT INTO sequences (name, value) VALUES ('messages', 0), ('events', 0), ('tasks', 0);

      CREATE TABLE messages (
        id         BIGINT PRIMARY KEY,
        channel    TEXT NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('direct', 'broadcast')),
        from_agent TEXT NOT NULL,
        to_agent   TEXT,
        group_name TEXT,
        content    TEXT NOT NULL,
        sent_at    BIGINT NOT NULL
      );
      CREATE INDEX messages_by_channel ON messages (channel, id);
      CREATE INDEX messages_dm ON messages (channel, from_agent, to_agent, id) WHERE kind = 'direct';
      CREATE INDEX messages_group ON messages (channel, group_name, id) WHERE kind = 'broadcast';

      CREATE TABLE inbox (
        recipient  TEXT NOT NULL,
        channel    TEXT NOT NULL,
        message_id BIGINT NOT NULL REFERENCES messages (id),
        PRIMARY KEY (recipient, channel, message_id)
      );

      CREATE TABLE cursors (
        agent_id TEXT NOT NULL,
        channel  TEXT NOT NULL,
        position BIGINT NOT NULL,
        PRIMARY KEY (agent_id, channel)
      );

      CREATE TABLE tasks (
        seq                 BIGINT PRIMARY KEY,
        id                  TEXT NOT NULL UNIQUE,
        channel             TEXT NOT NULL,
        description         TEXT NOT NULL,
        posted_by           TEXT NOT NULL,
        required_capability TEXT,
        priority            BIGINT NOT NULL,
        metadata            TEXT NOT NULL,
        status              TEXT NOT NULL CHECK (status IN ('pending', 'claimed', 'complete', 'failed')),
        claimed_by          TEXT,
        claimed_at          BIGINT,
        lease_expires_at    BIGINT,
        epoch               INTEGER NOT NULL DEFAULT 0,
        attempts            INTEGER NOT NULL DEFAULT 0,
        result              TEXT,
        created_at          BIGINT NOT NULL,
        updated_at          BIGINT NOT NULL,
        completed_at        BIGINT
      );
      CREATE INDEX tasks_queue ON tasks (channel, status, priority DESC, seq);
      CREATE INDEX tasks_leases ON tasks (lease_expires_at) WHERE status = 'claimed';

      CREATE TABLE state (
        channel    TEXT NOT NULL,
        key        TEXT NOT NULL,
        value      TEXT NOT NULL,
        version    INTEGER NOT NULL,
        updated_by TEXT,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (channel, key)
      );

      CREATE TABLE events (
        id         BIGINT PRIMARY KEY,
        type       TEXT NOT NULL,
        channel    TEXT,
        data       TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );
    `,
  },
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
