import { pollLocks, SEND_LOCKS } from './batch-functions.js';

/*
 * Coordination schema step 11 on PostgreSQL ([pg-speed], issue #31): the
 * sends and the polls that meet at a gateway go to the database together,
 * as one call of coord_meet_batch: one transaction, one commit and one WAL
 * flush for both kinds (pg/message-calls.ts groups them). Under load a
 * delivered message cost two commits that each waited for a flush: its
 * send's, and the poll's that read it and moved the cursor (the pollers
 * come back after the next send, so the send's hand-off seldom runs). The
 * poll's cursor move now commits with the sends that meet it, and a poll
 * sees the messages of the sends ahead of it in its own batch.
 *
 * Each element runs the single function (coord_send, coord_poll)
 * unchanged, sends first and then polls, so ORDER (message-functions.ts),
 * HANDOFF ORDER (handoff-functions.ts) and AFTER ACK (batch-functions.ts)
 * hold per element. A poll reads with its own statement's snapshot, which
 * holds the sends of its transaction; another writer to an inbox this
 * transaction writes waits for its commit (the inbox's writer lock), and
 * one to any other inbox is ordered against the poll as ORDER says.
 *
 * MEET ORDER (no deadlock). The batch takes every advisory lock before any
 * row lock, class by class, each class in key order: the agents (shared),
 * the channels (shared), the inboxes' writer locks (exclusive), then the
 * polls' inbox locks (coord_poll's hashtext key, exclusive). Elements then
 * take only locks the transaction holds (granted at once), try a poll lock
 * for a hand-off (never waits), and row locks. A deadlock needs a cycle of
 * waits; among advisory locks:
 * - a writer lock is waited for by sends and batches holding only agent,
 *   channel and smaller writer locks; its holder waits only for a larger
 *   writer lock or a poll lock (or nothing);
 * - a poll lock's holder is a poll, a poll batch or a meet batch, and each
 *   of them waits, after taking one, only for a poll lock of larger key;
 *   nothing that holds a poll lock waits for a writer, channel or agent lock;
 * - agent and channel locks are shared on these paths; their exclusive
 *   takers (a deregistration, a broadcast) hold no poll or writer lock
 *   while they wait (message-functions.ts, "No deadlock").
 * So waits among advisory locks go up one global order and close no cycle.
 * Every function on these paths (sends, broadcasts, polls, task writes, a
 * deregistration) takes its advisory locks before any row lock, so a
 * transaction waiting for an advisory lock holds no row lock, and no cycle
 * mixes the two either. Row locks alone (the
 * agents' last-seen times, a cursor's row) can close one between two
 * batches, as between two send batches of step 10 (rare: a last-seen time
 * is written once a second); PostgreSQL rolls one back and it runs again
 * whole (pg/call-group.ts).
 *
 * The commit waits for the WAL flush: the sends need it. coord_poll turns
 * synchronous_commit off for a poll that moved no cursor (or moved it by
 * `after`); the batch sets the database's own setting back at its end.
 */
export const MEET_FUNCTIONS = `
    -- Sends (as coord_send_batch's parameters) and then polls (as coord_poll_batch's) in one transaction: one row per element,
    -- the sends' rows first (poll columns NULL), then the polls' (send columns NULL). MEET ORDER above.
    CREATE FUNCTION coord_meet_batch(p_channel TEXT[], p_from TEXT[], p_to TEXT[], p_content TEXT[], p_at BIGINT[], p_thread TEXT[],
        p_keep BIGINT, p_hand_after BIGINT[], p_hand_cursor BOOLEAN[],
        p_agent TEXT[], p_poll_channel TEXT[], p_after BIGINT[], p_limit INTEGER[], p_poll_at BIGINT)
        RETURNS TABLE (sender_channel TEXT, recipient_channel TEXT, recipient_webhook TEXT, message_id BIGINT, handed BOOLEAN,
          known BOOLEAN, agent_channel TEXT, newest BIGINT, next_cursor BIGINT, has_more BOOLEAN, page JSON)
        LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      k BIGINT;
      base TEXT := current_setting('synchronous_commit');
    BEGIN
${SEND_LOCKS}${pollLocks('p_poll_channel')}      FOR i IN 1 .. cardinality(p_from) LOOP
        RETURN QUERY SELECT s.*, NULL::BOOLEAN, NULL::TEXT, NULL::BIGINT, NULL::BIGINT, NULL::BOOLEAN, NULL::JSON
          FROM coord_send(p_channel[i], p_from[i], p_to[i], p_content[i], p_at[i], p_thread[i], p_keep, p_hand_after[i], p_hand_cursor[i]) s;
      END LOOP;
      FOR i IN 1 .. cardinality(p_agent) LOOP
        RETURN QUERY SELECT NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::BIGINT, NULL::BOOLEAN, p.*
          FROM coord_poll(p_agent[i], p_poll_channel[i], p_after[i], p_limit[i], p_poll_at) p;
      END LOOP;
      -- The sends' commit waits for the flush, whatever a poll set (coord_poll turns it off when it moved no cursor).
      PERFORM set_config('synchronous_commit', base, true);
    END $f$;
`;
