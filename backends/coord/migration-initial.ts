import type { Migration } from './migrations.js';

/** Step 1 of the coordination schema (migrations.ts): every table as first released. Never edit it: append a step. */
export const INITIAL_SCHEMA: Migration = {
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
};
