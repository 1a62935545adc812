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
 */
export const BATCH_FUNCTIONS = `
    -- Several direct messages in one transaction, answered in order, one row each as coord_send answers.
    CREATE FUNCTION coord_send_batch(p_channel TEXT[], p_from TEXT[], p_to TEXT[], p_content TEXT[], p_at BIGINT[], p_thread TEXT[],
        p_keep BIGINT, p_hand_after BIGINT[], p_hand_cursor BOOLEAN[])
        RETURNS TABLE (sender_channel TEXT, recipient_channel TEXT, recipient_webhook TEXT, message_id BIGINT, handed BOOLEAN)
        LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      k BIGINT;
    BEGIN
      FOR k IN SELECT DISTINCT coord_key('agent', a) FROM unnest(p_from || p_to) AS a ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock_shared(k);
      END LOOP;
      FOR k IN SELECT DISTINCT coord_key('channel', c) FROM unnest(p_channel) AS c ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock_shared(k);
      END LOOP;
      FOR k IN SELECT DISTINCT coord_key('inbox', c || ' ' || t) FROM unnest(p_channel, p_to) AS x(c, t) ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(k);
      END LOOP;
      FOR i IN 1 .. cardinality(p_from) LOOP
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
      FOR k IN SELECT DISTINCT hashtext(current_schema() || ' coord inbox ' || c || ' ' || a)
          FROM unnest(p_channel, p_agent) AS x(c, a) ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(k);
      END LOOP;
      FOR i IN 1 .. cardinality(p_agent) LOOP
        PERFORM set_config('synchronous_commit', base, true);
        RETURN QUERY SELECT * FROM coord_poll(p_agent[i], p_channel[i], p_after[i], p_limit[i], p_at);
        -- coord_poll turns the flush off when it moved no cursor; any element that left it on needs it.
        flush := flush OR current_setting('synchronous_commit') = base;
      END LOOP;
      PERFORM set_config('synchronous_commit', CASE WHEN flush THEN base ELSE 'off' END, true);
    END $f$;
`;
