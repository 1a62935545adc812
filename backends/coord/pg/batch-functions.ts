import { MESSAGE_FUNCTIONS } from './message-functions.js';

/*
 * Coordination schema step 10 on PostgreSQL ([pg-speed], issue #31): group
 * commit for the message path. Sends (and polls) that reach a gateway while
 * its earlier ones are still at the database go to it together, as one call
 * of the functions below: one transaction, one commit, one WAL flush and one
 * round trip for all of them (pg/call-group.ts decides what goes together).
 * This is what the SQLite store does with the calls of one event-loop turn
 * (sqlite/group-commit.ts); each one is still answered only after the commit
 * that holds it, so nothing about durability changes: a poll's cursor move
 * is flushed before its answer, as alone.
 *
 * Each element runs the single function (coord_send, coord_poll) unchanged,
 * so the ORDER and HANDOFF ORDER arguments hold per element. What is new is
 * that one transaction holds the locks of several elements until its
 * commit; two batches (on two gateways) could then deadlock by taking them in
 * opposite orders. So a batch first takes every lock its elements will take,
 * class by class in the order every writer takes them (agents shared, then
 * channels shared, then inboxes exclusive: message-functions.ts, "No
 * deadlock"), each class in key order. Taking an advisory lock the
 * transaction already holds is granted at once, so the elements' own lock
 * calls then never wait. Batches therefore take their waited-for locks in
 * one global order among themselves, and against single writers the step-8
 * order holds (nothing holding an inbox or channel lock waits for an agent
 * lock). A send's hand-off only tries the poll lock (never waits).
 *
 * Polls: a batch takes the poll locks of its inboxes (coord_poll's
 * hashtext key) in key order, then runs each poll. A poll that moved no
 * cursor lets its commit skip the WAL flush (coord_poll sets
 * synchronous_commit off); in a batch the commit waits for the flush when
 * any element moved a cursor, and keeps the database's own setting then.
 *
 * AFTER ACK. A poll with \`after\` = N acknowledges up to N (moves the
 * cursor to N) and reads past N without moving it further. Since this step
 * that acknowledgement commits without waiting for the WAL flush
 * (synchronous_commit off for its transaction). What the contract promises
 * an agent that passes \`after\` is everything at least once and nothing
 * twice as long as it goes on passing the id of the last message it handled
 * (docs/coordination.md, "Delivery"): the stored cursor is not what such an
 * agent reads from, its own \`after\` is. A crash of a gateway loses nothing
 * (PostgreSQL commits the transaction whatever becomes of the client, and
 * writes it to disk within three wal_writer_delay). A crash of PostgreSQL
 * itself (or of its machine) in that window can lose the acknowledgement:
 * the cursor is then where the previous acknowledgement left it. The agent's
 * next poll with \`after\` = M (M >= N, the messages up to M were sent with
 * synchronous commits and survived) acknowledges M again and reads past M,
 * exactly what it would have read; only a poll *without* \`after\` from
 * that agent would get messages up to N a second time — at least once,
 * which is what a poll on the stored cursor after a lost acknowledgement
 * can promise. SQLite keeps the acknowledgement through a crash of the
 * process and can lose it (with the last sends) on a power loss
 * (synchronous = NORMAL); for an agent that passes \`after\` the outcome is
 * the same on both engines. A poll *without* \`after\` still waits for the
 * flush: it moves the cursor over what it returns, and the contract
 * promises each message once.
 *
 * TASKS: claims and completions batch the same way. A batch takes its
 * agents' advisory locks (shared) first, in key order, as every task write
 * takes its agent's lock first (handoff-functions.ts, 2). After that an
 * element may hold a task row (its claim or completion) while a later
 * element waits for a lapsed claim's row in coord_task_requeue, so a
 * deadlock between two batches that each re-queue lapsed claims is possible
 * (only while leases lapse); PostgreSQL detects it, rolls one batch back,
 * and that batch runs again whole (call-group.ts). A claim picks its task
 * with FOR UPDATE SKIP LOCKED as alone, and sees the claims made before it
 * in its own batch, so no task is claimed twice.
 *
 * Events: coord_event trimmed the buffer with `id IN (a range of 16 ids
 * below the new one's horizon)` on every write. PostgreSQL planned that as a
 * hash semi-join over a scan of the whole buffer (max_event_buffer rows, on
 * every send: test/issues/31-pg-group-commit.test.ts counts it), and the
 * coord-pg profile put the DELETE at 0.13–0.2 ms a send, ten times the
 * event's INSERT. Now each write deletes the one id it pushes out of the
 * buffer, found by the primary key and deleted by its row address, still
 * skipping a row another trimmer holds. An id whose writer had not committed
 * then (so the delete saw nothing) is caught by the full trim every 1,024th
 * event, as before; the buffer holds at most that many events too many.
 */
/** Step 8's coord_poll (message-functions.ts) with AFTER ACK above: an acknowledgement by \`after\` commits without waiting for the flush. */
export function pollWithLazyAfterAck(): string {
  const start = MESSAGE_FUNCTIONS.indexOf('    CREATE FUNCTION coord_poll(');
  const end = MESSAGE_FUNCTIONS.indexOf('END $f$;', start);
  // The branch that skips the flush, with its comment (which said a cursor move always waits).
  const flushRule =
    'ELSIF p_after IS NULL OR p_after <= cur THEN\n' +
    '        -- Nothing but (at most) the sign of life changed: its commit need not wait for the WAL flush (a crash could only\n' +
    '        -- lose a last-seen time). A cursor move always waits, as every message write does.';
  const body = MESSAGE_FUNCTIONS.slice(start, end + 'END $f$;'.length);
  if (start < 0 || end < 0 || body.split(flushRule).length !== 2) throw new Error('step 10: coord_poll of step 8 is not where expected');
  return body
    .replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION')
    .replace(
      flushRule,
      'ELSE\n' +
        '        -- Nothing but the sign of life, or an acknowledgement by after (AFTER ACK, pg/batch-functions.ts), changed: the\n' +
        '        -- commit need not wait for the WAL flush. A poll on the cursor that moved it waits, as every message write does.',
    );
}

/** A send batch's advisory locks (TEXT[] p_channel, p_from, p_to), class by class, each in key order (lock order above). */
export const SEND_LOCKS = `      FOR k IN SELECT DISTINCT coord_key('agent', a) FROM unnest(p_from || p_to) AS a ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock_shared(k);
      END LOOP;
      FOR k IN SELECT DISTINCT coord_key('channel', c) FROM unnest(p_channel) AS c ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock_shared(k);
      END LOOP;
      FOR k IN SELECT DISTINCT coord_key('inbox', c || ' ' || t) FROM unnest(p_channel, p_to) AS x(c, t) ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(k);
      END LOOP;
`;

/** A poll batch's inbox locks (coord_poll's key; the TEXT[] of channels named by `channels`, and p_agent), in key order. */
export function pollLocks(channels: string): string {
  return `      FOR k IN SELECT DISTINCT hashtext(current_schema() || ' coord inbox ' || c || ' ' || a)
          FROM unnest(${channels}, p_agent) AS x(c, a) ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(k);
      END LOOP;
`;
}

export const BATCH_FUNCTIONS = `
    ${pollWithLazyAfterAck()}

    -- Appends an event (step 7's function): the transaction id first, then the event id; trims the one id that falls out.
    CREATE OR REPLACE FUNCTION coord_event(p_type TEXT, p_channel TEXT, p_data TEXT, p_at BIGINT, p_keep BIGINT) RETURNS BIGINT
        LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      ev BIGINT;
    BEGIN
      PERFORM pg_current_xact_id();
      ev := nextval('event_ids');
      INSERT INTO events (id, type, channel, data, created_at) VALUES (ev, p_type, p_channel, p_data, p_at);
      IF ev % 1024 = 0 THEN
        DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id <= ev - p_keep FOR UPDATE SKIP LOCKED);
      ELSE
        DELETE FROM events WHERE ctid = (SELECT ctid FROM events WHERE id = ev - p_keep FOR UPDATE SKIP LOCKED);
      END IF;
      RETURN ev;
    END $f$;

    -- Several direct messages in one transaction, answered in order, one row each as coord_send answers.
    CREATE FUNCTION coord_send_batch(p_channel TEXT[], p_from TEXT[], p_to TEXT[], p_content TEXT[], p_at BIGINT[], p_thread TEXT[],
        p_keep BIGINT, p_hand_after BIGINT[], p_hand_cursor BOOLEAN[])
        RETURNS TABLE (sender_channel TEXT, recipient_channel TEXT, recipient_webhook TEXT, message_id BIGINT, handed BOOLEAN)
        LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      k BIGINT;
    BEGIN
${SEND_LOCKS}      FOR i IN 1 .. cardinality(p_from) LOOP
        RETURN QUERY SELECT * FROM coord_send(p_channel[i], p_from[i], p_to[i], p_content[i], p_at[i], p_thread[i], p_keep,
          p_hand_after[i], p_hand_cursor[i]);
      END LOOP;
    END $f$;

    -- Several polls in one transaction, answered in order, one row each as coord_poll answers.
    CREATE FUNCTION coord_poll_batch(p_agent TEXT[], p_channel TEXT[], p_after BIGINT[], p_limit INTEGER[], p_at BIGINT)
        RETURNS TABLE (known BOOLEAN, agent_channel TEXT, newest BIGINT, next_cursor BIGINT, has_more BOOLEAN, page JSON)
        LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      k BIGINT;
      base TEXT := current_setting('synchronous_commit');
      flush BOOLEAN := FALSE;
    BEGIN
${pollLocks('p_channel')}      FOR i IN 1 .. cardinality(p_agent) LOOP
        PERFORM set_config('synchronous_commit', base, true);
        RETURN QUERY SELECT * FROM coord_poll(p_agent[i], p_channel[i], p_after[i], p_limit[i], p_at);
        -- coord_poll turns the flush off when it moved no cursor; any element that left it on needs it.
        flush := flush OR current_setting('synchronous_commit') = base;
      END LOOP;
      PERFORM set_config('synchronous_commit', CASE WHEN flush THEN base ELSE 'off' END, true);
    END $f$;

    -- Several task claims in one transaction (TASKS above), answered in order, one row each as coord_task_claim answers.
    CREATE FUNCTION coord_task_claim_batch(p_agent TEXT[], p_channel TEXT[], p_at BIGINT[], p_expires BIGINT[], p_expires_iso TEXT[], p_keep BIGINT)
        RETURNS TABLE (agent_channel TEXT, agent_capabilities TEXT, task JSON, pending BIGINT) LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      k BIGINT;
    BEGIN
      FOR k IN SELECT DISTINCT coord_key('agent', a) FROM unnest(p_agent) AS a ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock_shared(k);
      END LOOP;
      FOR i IN 1 .. cardinality(p_agent) LOOP
        RETURN QUERY SELECT * FROM coord_task_claim(p_agent[i], p_channel[i], p_at[i], p_expires[i], p_expires_iso[i], p_keep);
      END LOOP;
    END $f$;

    -- Several task completions in one transaction (TASKS above), answered in order, one row each as coord_task_complete answers.
    CREATE FUNCTION coord_task_complete_batch(p_task TEXT[], p_agent TEXT[], p_epoch BIGINT[], p_status TEXT[], p_result TEXT[], p_at BIGINT[],
        p_data TEXT[], p_keep BIGINT) RETURNS TABLE (done BOOLEAN, known BOOLEAN, task JSON) LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      k BIGINT;
    BEGIN
      FOR k IN SELECT DISTINCT coord_key('agent', a) FROM unnest(p_agent) AS a ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock_shared(k);
      END LOOP;
      FOR i IN 1 .. cardinality(p_agent) LOOP
        RETURN QUERY SELECT * FROM coord_task_complete(p_task[i], p_agent[i], p_epoch[i], p_status[i], p_result[i], p_at[i], p_data[i], p_keep);
      END LOOP;
    END $f$;
`;
