import { TASK_FUNCTIONS } from './task-functions.js';

/*
 * Coordination schema step 9 on PostgreSQL ([pg-speed], issue #31):
 *
 * 1. coord_send may hand its message to a long-poll parked on the sending
 *    gateway (pg/handoff.ts), so that poll answers without reading the inbox
 *    again: one round trip per delivered message instead of two.
 *
 *    HANDOFF ORDER. The parked poll read its inbox and found nothing past
 *    `a` (p_hand_after). The send holds the inbox's writer lock, so every
 *    earlier writer to the inbox has committed and every later one will
 *    take a larger id (message-functions.ts, ORDER). Under that lock it reads
 *    `prev`, the inbox's highest id below its own. When prev <= a, the
 *    inbox's messages past `a` at this commit are exactly this one: handing
 *    over [m] with next_cursor m skips no lower id. When prev > a, a message
 *    the poll has not seen is there: no handoff, the poll reads as before.
 *    A poll on the cursor (no `after`) also needs its cursor moved past m
 *    in the same commit, and only when it still stands at `a` (a compare-and-
 *    set: another poll of the same agent that moved it has delivered
 *    something, and this poll must read instead). That compare-and-set also
 *    takes coord_poll's own inbox lock (without waiting: busy means a poll of
 *    the inbox is reading, and it may deliver the message itself), so a poll
 *    that read the cursor before this commit and the inbox after it cannot
 *    deliver the same message a second time.
 *
 * 2. Task writes take the acting agent's advisory lock, shared, instead of
 *    its row FOR KEY SHARE, as message writes do since step 8: a row lock
 *    writes the row (a WAL record and a dirty page per claim and per
 *    completion). A deregistration takes the agent's advisory lock
 *    exclusive before anything else (pg/agents.ts), so it still waits for a
 *    task write in flight, and a task write that starts after it finds no
 *    agent. The lock order of task-functions.ts is unchanged (the agent
 *    first), so no deadlock appears.
 */

/** The step-8 task functions with the agent's row lock replaced by its advisory lock; each of the four must match. */
function taskFunctionsWithAdvisoryAgentLock(): string {
  const rowLock = /SELECT (.+?) FROM agents( a)? WHERE (a\.)?id = (p_\w+) FOR KEY SHARE;/g;
  const found = TASK_FUNCTIONS.match(rowLock)?.length ?? 0;
  if (found !== 4) throw new Error(`step 9: expected 4 agent row locks in the task functions, found ${found}`);
  return TASK_FUNCTIONS.replace(/^\s*DROP FUNCTION .*$/gm, '')
    .replaceAll('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION')
    .replace(rowLock, "PERFORM pg_advisory_xact_lock_shared(coord_key('agent', $4));\n      SELECT $1 FROM agents$2 WHERE $3id = $4;");
}

export const HANDOFF_FUNCTIONS = `
    DROP FUNCTION coord_send(TEXT, TEXT, TEXT, TEXT, BIGINT, TEXT, BIGINT);

    -- A direct message (message-functions.ts), and its handoff to a parked poll (HANDOFF ORDER above): p_hand_after is
    -- what that poll has seen (NULL: no poll parked), p_hand_cursor whether it reads on the cursor. handed: the poll may answer it.
    CREATE FUNCTION coord_send(p_channel TEXT, p_from TEXT, p_to TEXT, p_content TEXT, p_at BIGINT, p_thread TEXT, p_keep BIGINT,
        p_hand_after BIGINT, p_hand_cursor BOOLEAN,
        OUT sender_channel TEXT, OUT recipient_channel TEXT, OUT recipient_webhook TEXT, OUT message_id BIGINT, OUT handed BOOLEAN)
        LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      data TEXT;
      seen BIGINT;
      prev BIGINT;
    BEGIN
      handed := FALSE;
      PERFORM pg_advisory_xact_lock_shared(coord_key('agent', p_from)), pg_advisory_xact_lock_shared(coord_key('agent', p_to));
      SELECT channel, last_heartbeat INTO sender_channel, seen FROM agents WHERE id = p_from;
      SELECT channel, webhook_url INTO recipient_channel, recipient_webhook FROM agents WHERE id = p_to;
      IF sender_channel IS DISTINCT FROM p_channel OR recipient_channel IS DISTINCT FROM p_channel THEN
        RETURN;
      END IF;
      PERFORM pg_advisory_xact_lock_shared(coord_key('channel', p_channel)), pg_advisory_xact_lock(coord_key('inbox', p_channel || ' ' || p_to));
      PERFORM pg_current_xact_id();
      message_id := nextval('message_ids');
      IF p_hand_after IS NOT NULL THEN
        -- Read under the inbox lock, before this message's row exists: every earlier writer to the inbox has committed.
        prev := COALESCE((SELECT MAX(i.message_id) FROM inbox i WHERE i.recipient = p_to AND i.channel = p_channel), 0);
        IF prev <= p_hand_after THEN
          IF NOT p_hand_cursor THEN
            handed := TRUE;
          ELSIF NOT pg_try_advisory_xact_lock(hashtext(current_schema() || ' coord inbox ' || p_channel || ' ' || p_to)) THEN
            -- A poll of this inbox is reading it (coord_poll holds this lock over its cursor read and move): it may deliver
            -- this message itself, so no handoff (and no waiting for it).
            handed := FALSE;
          ELSIF p_hand_after = 0 THEN
            INSERT INTO cursors (agent_id, channel, position) VALUES (p_to, p_channel, message_id)
              ON CONFLICT (agent_id, channel) DO UPDATE SET position = EXCLUDED.position WHERE cursors.position = 0;
            handed := FOUND;
          ELSE
            UPDATE cursors SET position = message_id WHERE agent_id = p_to AND channel = p_channel AND position = p_hand_after;
            handed := FOUND;
          END IF;
        END IF;
      END IF;
      INSERT INTO messages (id, channel, kind, from_agent, to_agent, group_name, content, sent_at, thread_id)
        VALUES (message_id, p_channel, 'direct', p_from, p_to, NULL, p_content, p_at, p_thread);
      INSERT INTO inbox (recipient, channel, message_id) VALUES (p_to, p_channel, message_id);
      PERFORM coord_seen(p_from, seen, p_at);
      data := json_build_object('message_id', message_id, 'from', p_from, 'to', p_to, 'content', p_content)::text;
      IF p_thread IS NOT NULL THEN
        data := left(data, -1) || ', "kind" : "thread", "thread_id" : ' || to_json(p_thread)::text || '}';
      END IF;
      PERFORM coord_event('message', p_channel, data, p_at, p_keep);
    END $f$;

    ${taskFunctionsWithAdvisoryAgentLock()}
`;
