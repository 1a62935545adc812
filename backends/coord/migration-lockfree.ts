import type { Migration } from './migrations.js';
import { TASK_FUNCTIONS } from './pg/task-functions-7.js';

/*
 * Step 7 of the coordination schema: message writes without the store's
 * global write lock ([pg-speed], issue #31). SQLite has one writer and keeps
 * commit order by itself: its step is empty.
 *
 * THE ORDERING ARGUMENT. A poll delivers an inbox's messages by id and moves
 * the inbox's cursor to the last id it delivered, so an id must never commit
 * into an inbox after a higher id of that inbox was readable: the cursor
 * would have passed it. Before this step every write took one advisory lock
 * and ids came from a counter row, so ids grew in commit order store-wide.
 * Now:
 *
 * 1. Messages. A writer first locks the inbox's head row (inbox_heads, one
 *    per recipient and channel; a broadcast locks its recipients' rows in
 *    name order), and only then takes the message id from a sequence. The
 *    row lock is held until commit. So for one inbox, a writer that commits
 *    later either waited for the earlier one's commit before taking its id
 *    (a larger id, since the sequence only grows) or held the lock first and
 *    committed first. Per inbox, id order is commit order; any snapshot holds
 *    a commit-order prefix of each inbox, i.e. an id-order prefix, and a
 *    cursor never passes a message that commits later. Writers to different
 *    inboxes share no lock at all.
 *
 * 2. Events are one store-wide log read by id (GET /events, event streams),
 *    so no per-key lock can order them. They take ids from a sequence too,
 *    and readers are bounded by a watermark instead (coord_event_horizon):
 *    every writer makes sure it has a transaction id (pg_current_xact_id())
 *    before it takes an event id. The horizon reads V, the last event id
 *    handed out; then takes a transaction id B of its own; then a snapshot
 *    S. Any writer holding an id <= V took it before V was read, so it had
 *    its transaction id before B was handed out: its id is below B (ids are
 *    handed out in order). At S it had either finished, or it is running:
 *    listed in S's xip if below S's xmax, or anywhere in [xmax, B) (every id
 *    there is running: nothing above xmax had completed). A reader delivers
 *    events up to V only from a snapshot in which all of those have finished
 *    (coord_horizon_passed); until then it keeps its previous watermark,
 *    which was proven the same way in an earlier snapshot. Events above the
 *    watermark are not lost, only delivered on a later read.
 *
 * Every write of the message path is one call of a function below, and so
 * is every task write (pg/task-functions.ts, with its own argument): one
 * round trip, its NOTIFYs included (delivered at commit).
 */
export const LOCK_FREE_MESSAGES: Migration = {
  version: 7,
  name: 'message and task writes without the global lock',
  sql: '-- SQLite: one writer, commit order as before (nothing to change)\nSELECT 1;',
  postgres: `
    CREATE SEQUENCE message_ids;
    SELECT setval('message_ids', GREATEST(value, 1), value > 0) FROM sequences WHERE name = 'messages';
    CREATE SEQUENCE event_ids;
    SELECT setval('event_ids', GREATEST(value, 1), value > 0) FROM sequences WHERE name = 'events';
    CREATE SEQUENCE task_seqs;
    SELECT setval('task_seqs', GREATEST(value, 1), value > 0) FROM sequences WHERE name = 'tasks';
    -- A gateway of an older version would go on taking ids from these rows: without them its writes fail instead.
    DELETE FROM sequences WHERE name IN ('messages', 'events', 'tasks');

    CREATE TABLE inbox_heads (
      recipient TEXT NOT NULL,
      channel   TEXT NOT NULL,
      last_id   BIGINT NOT NULL,
      PRIMARY KEY (recipient, channel)
    );
    INSERT INTO inbox_heads (recipient, channel, last_id) SELECT recipient, channel, MAX(message_id) FROM inbox GROUP BY recipient, channel;

    -- The newest event id handed out.
    CREATE FUNCTION coord_last_event() RETURNS BIGINT LANGUAGE sql VOLATILE AS
      $f$ SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM event_ids $f$;

    -- The horizon (argument 2): V; then this call's own transaction id, above every writer's that holds an id <= V;
    -- then a snapshot: the writers still running below that id are its xip below its xmax, and every id in [xmax, bound).
    CREATE FUNCTION coord_event_horizon(OUT last_id BIGINT, OUT in_flight xid8[], OUT low xid8, OUT bound xid8) LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      snap pg_snapshot;
    BEGIN
      last_id := coord_last_event();
      bound := pg_current_xact_id();
      snap := pg_current_snapshot();
      in_flight := ARRAY(SELECT x FROM pg_snapshot_xip(snap) AS x WHERE x < bound);
      low := pg_snapshot_xmax(snap);
    END $f$;

    -- Whether every writer of a horizon has finished in the caller's snapshot (a REPEATABLE READ transaction's).
    CREATE FUNCTION coord_horizon_passed(p_in_flight xid8[], p_low xid8, p_bound xid8) RETURNS BOOLEAN LANGUAGE sql VOLATILE AS $f$
      SELECT COALESCE((SELECT bool_and(pg_visible_in_snapshot(x, s)) FROM unnest(p_in_flight) AS x), TRUE)
        AND NOT EXISTS (SELECT 1 FROM pg_snapshot_xip(s) AS y WHERE y >= p_low AND y < p_bound)
        AND pg_snapshot_xmax(s) > p_bound
      FROM pg_current_snapshot() AS s
    $f$;

    -- Appends an event: the transaction id first, then the event id; trims what falls out of the buffer without waiting for other trimmers.
    -- The caller NOTIFYs the events topic.
    CREATE FUNCTION coord_event(p_type TEXT, p_channel TEXT, p_data TEXT, p_at BIGINT, p_keep BIGINT) RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      ev BIGINT;
    BEGIN
      PERFORM pg_current_xact_id();
      ev := nextval('event_ids');
      INSERT INTO events (id, type, channel, data, created_at) VALUES (ev, p_type, p_channel, p_data, p_at);
      -- The ids just falling out (a short index range: no walk over rows deleted before and not vacuumed yet); an id
      -- still in flight while every later writer passed it is caught by the full trim every 1,024th event.
      IF ev % 1024 = 0 THEN
        DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id <= ev - p_keep FOR UPDATE SKIP LOCKED);
      ELSE
        DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id > ev - p_keep - 16 AND id <= ev - p_keep FOR UPDATE SKIP LOCKED);
      END IF;
      RETURN ev;
    END $f$;

    -- A direct message. Refusals come back as the agents' channels (message_id NULL), judged by the caller.
    CREATE FUNCTION coord_send(p_channel TEXT, p_from TEXT, p_to TEXT, p_content TEXT, p_at BIGINT, p_thread TEXT, p_keep BIGINT, p_notify TEXT,
        OUT sender_channel TEXT, OUT recipient_channel TEXT, OUT recipient_webhook TEXT, OUT message_id BIGINT) LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      data TEXT;
    BEGIN
      -- KEY SHARE: a deregistration waits for this send; heartbeats (no key change) do not.
      SELECT channel INTO sender_channel FROM agents WHERE id = p_from FOR KEY SHARE;
      SELECT channel, webhook_url INTO recipient_channel, recipient_webhook FROM agents WHERE id = p_to FOR KEY SHARE;
      IF sender_channel IS DISTINCT FROM p_channel OR recipient_channel IS DISTINCT FROM p_channel THEN
        RETURN;
      END IF;
      -- The inbox's head row, locked until commit, before the id is taken (argument 1).
      INSERT INTO inbox_heads (recipient, channel, last_id) VALUES (p_to, p_channel, 0)
        ON CONFLICT (recipient, channel) DO UPDATE SET last_id = inbox_heads.last_id;
      PERFORM pg_current_xact_id();
      message_id := nextval('message_ids');
      UPDATE inbox_heads SET last_id = message_id WHERE recipient = p_to AND channel = p_channel;
      INSERT INTO messages (id, channel, kind, from_agent, to_agent, group_name, content, sent_at, thread_id)
        VALUES (message_id, p_channel, 'direct', p_from, p_to, NULL, p_content, p_at, p_thread);
      INSERT INTO inbox (recipient, channel, message_id) VALUES (p_to, p_channel, message_id);
      UPDATE agents SET last_heartbeat = GREATEST(last_heartbeat, p_at) WHERE id = p_from;
      data := json_build_object('message_id', message_id, 'from', p_from, 'to', p_to, 'content', p_content)::text;
      IF p_thread IS NOT NULL THEN
        data := left(data, -1) || ', "kind" : "thread", "thread_id" : ' || to_json(p_thread)::text || '}';
      END IF;
      PERFORM coord_event('message', p_channel, data, p_at, p_keep);
      PERFORM pg_notify(p_notify, 'inbox' || chr(31) || p_channel || chr(31) || p_to);
      PERFORM pg_notify(p_notify, 'events');
    END $f$;

    -- A broadcast. Locks in the order every writer uses (argument 1, and no deadlock): agents' keys, inbox heads by name, then the sender's row.
    -- sender_channel NULL: the sender is not registered; another channel than p_channel: it acts elsewhere (message_id NULL).
    CREATE FUNCTION coord_broadcast(p_channel TEXT, p_from TEXT, p_group TEXT, p_content TEXT, p_at BIGINT, p_priority TEXT, p_keep BIGINT, p_notify TEXT,
        OUT sender_channel TEXT, OUT message_id BIGINT, OUT recipients TEXT[], OUT webhooks TEXT[]) LANGUAGE plpgsql VOLATILE AS $f$
    BEGIN
      SELECT channel INTO sender_channel FROM agents WHERE id = p_from FOR KEY SHARE;
      IF sender_channel IS DISTINCT FROM p_channel THEN
        RETURN;
      END IF;
      INSERT INTO channels (name, description, created_by, created_at) VALUES (p_channel, NULL, p_from, p_at) ON CONFLICT (name) DO NOTHING;
      IF FOUND THEN
        PERFORM coord_event('channel_created', p_channel, json_build_object('name', p_channel, 'created_by', p_from, 'description', NULL)::text, p_at, p_keep);
      END IF;
      SELECT COALESCE(array_agg(r.id ORDER BY r.id), '{}'), COALESCE(array_agg(r.webhook_url ORDER BY r.id), '{}') INTO recipients, webhooks FROM (
        SELECT id, webhook_url FROM agents WHERE channel = p_channel AND id <> p_from AND (p_group IS NULL OR group_name = p_group) ORDER BY id FOR KEY SHARE) r;
      INSERT INTO inbox_heads (recipient, channel, last_id) SELECT r, p_channel, 0 FROM unnest(recipients) AS r ORDER BY r
        ON CONFLICT (recipient, channel) DO UPDATE SET last_id = inbox_heads.last_id;
      PERFORM pg_current_xact_id();
      message_id := nextval('message_ids');
      UPDATE inbox_heads SET last_id = message_id WHERE recipient = ANY (recipients) AND channel = p_channel;
      INSERT INTO messages (id, channel, kind, from_agent, to_agent, group_name, content, sent_at, priority)
        VALUES (message_id, p_channel, 'broadcast', p_from, NULL, p_group, p_content, p_at, p_priority);
      INSERT INTO inbox (recipient, channel, message_id) SELECT r, p_channel, message_id FROM unnest(recipients) AS r;
      UPDATE agents SET last_heartbeat = GREATEST(last_heartbeat, p_at) WHERE id = p_from;
      PERFORM coord_event('broadcast', p_channel, json_build_object('message_id', message_id, 'from', p_from, 'group', p_group, 'content', p_content,
        'recipients', cardinality(recipients), 'priority', p_priority)::text, p_at, p_keep);
      PERFORM pg_notify(p_notify, 'inbox' || chr(31) || p_channel || chr(31) || r) FROM unnest(recipients) AS r;
      PERFORM pg_notify(p_notify, 'events');
    END $f$;

    -- One poll of an inbox: the sender's sign of life, the cursor move and the read, atomic under the inbox's own lock.
    -- known false: the agent is not registered (else agent_channel is where it is registered); page NULL: after is past the newest message id.
    CREATE FUNCTION coord_poll(p_agent TEXT, p_channel TEXT, p_after BIGINT, p_limit INTEGER, p_at BIGINT,
        OUT known BOOLEAN, OUT agent_channel TEXT, OUT newest BIGINT, OUT next_cursor BIGINT, OUT has_more BOOLEAN, OUT page JSON) LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      cur BIGINT;
      from_id BIGINT;
      last BIGINT;
      n INTEGER;
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtext(current_schema() || ' coord inbox ' || p_channel || ' ' || p_agent));
      UPDATE agents SET last_heartbeat = GREATEST(last_heartbeat, p_at) WHERE id = p_agent RETURNING channel INTO agent_channel;
      known := FOUND;
      IF NOT known THEN
        RETURN;
      END IF;
      cur := COALESCE((SELECT position FROM cursors WHERE agent_id = p_agent AND channel = p_channel), 0);
      IF p_after IS NOT NULL AND p_after > cur THEN
        -- Acknowledging ids that do not exist yet would silently skip future messages.
        newest := (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM message_ids);
        IF p_after > newest THEN
          RETURN;
        END IF;
        INSERT INTO cursors (agent_id, channel, position) VALUES (p_agent, p_channel, p_after)
          ON CONFLICT (agent_id, channel) DO UPDATE SET position = GREATEST(cursors.position, EXCLUDED.position);
      END IF;
      from_id := COALESCE(p_after, cur);
      SELECT COALESCE(json_agg(x ORDER BY x.id), '[]'::json), MAX(x.id), COUNT(*) INTO page, last, n FROM (
        SELECT m.* FROM inbox i JOIN messages m ON m.id = i.message_id
        WHERE i.recipient = p_agent AND i.channel = p_channel AND i.message_id > from_id
        ORDER BY i.message_id LIMIT p_limit) x;
      has_more := n = p_limit AND EXISTS (SELECT 1 FROM inbox WHERE recipient = p_agent AND channel = p_channel AND message_id > last);
      next_cursor := COALESCE(last, from_id);
      IF p_after IS NULL AND last IS NOT NULL THEN
        INSERT INTO cursors (agent_id, channel, position) VALUES (p_agent, p_channel, last)
          ON CONFLICT (agent_id, channel) DO UPDATE SET position = GREATEST(cursors.position, EXCLUDED.position);
      ELSIF p_after IS NULL OR p_after <= cur THEN
        -- Nothing but the sign of life changed: its commit need not wait for the WAL flush (a crash could only
        -- lose a last-seen time). A cursor move always waits, as every message write does.
        PERFORM set_config('synchronous_commit', 'off', true);
      END IF;
    END $f$;
    ${TASK_FUNCTIONS}
  `,
};
