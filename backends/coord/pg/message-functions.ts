/*
 * The message path's functions as coordination schema step 8 defines them
 * (migration-lockfree-2.ts), for what the coord-pg profile showed costly:
 *
 * - No NOTIFY inside the transaction. PostgreSQL holds one database-wide lock
 *   from a notifying transaction's pre-commit to the end of its WAL flush, so
 *   notifying writers could not share a flush. The gateway announces after
 *   the commit instead (kit/pg-announcer.ts).
 * - Writer locks are advisory locks (PostgreSQL's lock table, in memory)
 *   instead of row locks on inbox_heads and agents, which wrote a row
 *   version or a lock record to the WAL each.
 * - Last-seen times are written at most once a second per agent
 *   (coord_seen). A poll that finds nothing new and moves no cursor then
 *   writes nothing at all: no row version, no WAL, no commit to wait for.
 *
 * ORDER (step 7's argument 1, with these locks). A poll delivers an inbox by
 * id and moves its cursor past what it delivered, so no id may commit into
 * an inbox after a higher id of that inbox became readable. Every writer to
 * an inbox takes, before it takes the message id and until it commits, a
 * lock that conflicts with every other writer to that inbox: a direct send
 * takes the channel's lock shared and the inbox's exclusive; a broadcast
 * takes the channel's lock exclusive (it writes every inbox of the channel).
 * Two sends to one inbox conflict on the inbox lock, a send and a broadcast
 * on the channel lock, two broadcasts likewise. So the later of two writers
 * to one inbox took its id after the earlier one committed (a larger id: the
 * sequence only grows): per inbox, id order is commit order, any snapshot
 * holds an id-order prefix of each inbox, and a cursor never passes a
 * message that commits later. Writers to different inboxes share only the
 * channel lock, in shared mode: no waiting. A broadcast holds up the
 * channel's direct sends for as long as it runs and commits.
 *
 * No deadlock: sends take agent locks (shared), then the channel (shared),
 * then one inbox; a broadcast the sender's agent lock (shared), then the
 * channel (exclusive), then recipients' rows; a deregistration one agent
 * lock (exclusive) and no writer lock. Shared agent locks never conflict
 * with each other, and nothing holding an inbox or channel lock waits for an
 * agent lock.
 */
export const MESSAGE_FUNCTIONS = `
    DROP FUNCTION coord_send(TEXT, TEXT, TEXT, TEXT, BIGINT, TEXT, BIGINT, TEXT);
    DROP FUNCTION coord_broadcast(TEXT, TEXT, TEXT, TEXT, BIGINT, TEXT, BIGINT, TEXT);
    DROP FUNCTION coord_poll(TEXT, TEXT, BIGINT, INTEGER, BIGINT);
    -- Step 7's per-inbox lock rows: the writer locks below are advisory (no row version, no WAL); nothing read the rows.
    DROP TABLE inbox_heads;

    -- The agent's last-seen time, when what the caller read (p_seen) is a second old or more.
    CREATE FUNCTION coord_seen(p_agent TEXT, p_seen BIGINT, p_at BIGINT) RETURNS VOID LANGUAGE plpgsql VOLATILE AS $f$
    BEGIN
      IF p_seen <= p_at - 1000 THEN
        UPDATE agents SET last_heartbeat = GREATEST(last_heartbeat, p_at) WHERE id = p_agent;
      END IF;
    END $f$;

    -- The advisory lock key of a writer's lock (kind: agent, channel or inbox); a collision only makes two writers wait for each other.
    CREATE FUNCTION coord_key(p_kind TEXT, p_name TEXT) RETURNS BIGINT LANGUAGE sql STABLE AS
      $f$ SELECT hashtextextended(current_schema() || ' coord ' || p_kind || ' ' || p_name, 0) $f$;

    -- A direct message. Refusals come back as the agents' channels (message_id NULL), judged by the caller.
    CREATE FUNCTION coord_send(p_channel TEXT, p_from TEXT, p_to TEXT, p_content TEXT, p_at BIGINT, p_thread TEXT, p_keep BIGINT,
        OUT sender_channel TEXT, OUT recipient_channel TEXT, OUT recipient_webhook TEXT, OUT message_id BIGINT) LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      data TEXT;
      seen BIGINT;
    BEGIN
      -- Shared agent locks: a deregistration (exclusive) waits for this send, or this send, reading after it, finds no agent.
      PERFORM pg_advisory_xact_lock_shared(coord_key('agent', p_from)), pg_advisory_xact_lock_shared(coord_key('agent', p_to));
      SELECT channel, last_heartbeat INTO sender_channel, seen FROM agents WHERE id = p_from;
      SELECT channel, webhook_url INTO recipient_channel, recipient_webhook FROM agents WHERE id = p_to;
      IF sender_channel IS DISTINCT FROM p_channel OR recipient_channel IS DISTINCT FROM p_channel THEN
        RETURN;
      END IF;
      -- The inbox's writer lock, until commit, before the id is taken (ORDER below).
      PERFORM pg_advisory_xact_lock_shared(coord_key('channel', p_channel)), pg_advisory_xact_lock(coord_key('inbox', p_channel || ' ' || p_to));
      PERFORM pg_current_xact_id();
      message_id := nextval('message_ids');
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

    -- A broadcast: the channel's writer lock, exclusive, before the id is taken (ORDER below); the recipients' rows KEY SHARE, so a
    -- deregistration waits for it. sender_channel NULL: the sender is not registered; another channel than p_channel: it acts elsewhere.
    CREATE FUNCTION coord_broadcast(p_channel TEXT, p_from TEXT, p_group TEXT, p_content TEXT, p_at BIGINT, p_priority TEXT, p_keep BIGINT,
        OUT sender_channel TEXT, OUT message_id BIGINT, OUT recipients TEXT[], OUT webhooks TEXT[]) LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      seen BIGINT;
    BEGIN
      PERFORM pg_advisory_xact_lock_shared(coord_key('agent', p_from));
      SELECT channel, last_heartbeat INTO sender_channel, seen FROM agents WHERE id = p_from;
      IF sender_channel IS DISTINCT FROM p_channel THEN
        RETURN;
      END IF;
      PERFORM pg_advisory_xact_lock(coord_key('channel', p_channel));
      INSERT INTO channels (name, description, created_by, created_at) VALUES (p_channel, NULL, p_from, p_at) ON CONFLICT (name) DO NOTHING;
      IF FOUND THEN
        PERFORM coord_event('channel_created', p_channel, json_build_object('name', p_channel, 'created_by', p_from, 'description', NULL)::text, p_at, p_keep);
      END IF;
      SELECT COALESCE(array_agg(r.id ORDER BY r.id), '{}'), COALESCE(array_agg(r.webhook_url ORDER BY r.id), '{}') INTO recipients, webhooks FROM (
        SELECT id, webhook_url FROM agents WHERE channel = p_channel AND id <> p_from AND (p_group IS NULL OR group_name = p_group) ORDER BY id FOR KEY SHARE) r;
      PERFORM pg_current_xact_id();
      message_id := nextval('message_ids');
      INSERT INTO messages (id, channel, kind, from_agent, to_agent, group_name, content, sent_at, priority)
        VALUES (message_id, p_channel, 'broadcast', p_from, NULL, p_group, p_content, p_at, p_priority);
      INSERT INTO inbox (recipient, channel, message_id) SELECT r, p_channel, message_id FROM unnest(recipients) AS r;
      PERFORM coord_seen(p_from, seen, p_at);
      PERFORM coord_event('broadcast', p_channel, json_build_object('message_id', message_id, 'from', p_from, 'group', p_group, 'content', p_content,
        'recipients', cardinality(recipients), 'priority', p_priority)::text, p_at, p_keep);
    END $f$;

    -- One poll of an inbox: the poller's sign of life, the cursor move and the read, atomic under the inbox's own lock.
    -- known false: the agent is not registered (else agent_channel is where it is registered); page NULL: after is past the newest message id.
    CREATE FUNCTION coord_poll(p_agent TEXT, p_channel TEXT, p_after BIGINT, p_limit INTEGER, p_at BIGINT,
        OUT known BOOLEAN, OUT agent_channel TEXT, OUT newest BIGINT, OUT next_cursor BIGINT, OUT has_more BOOLEAN, OUT page JSON) LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      cur BIGINT;
      from_id BIGINT;
      last BIGINT;
      n INTEGER;
      seen BIGINT;
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtext(current_schema() || ' coord inbox ' || p_channel || ' ' || p_agent));
      -- No row lock: locking writes the row (WAL, a transaction id). A deregistration racing this poll only
      -- counts as pending what the poll then returns; the inbox outlives the registration either way.
      SELECT channel, last_heartbeat INTO agent_channel, seen FROM agents WHERE id = p_agent;
      known := FOUND;
      IF NOT known THEN
        RETURN;
      END IF;
      PERFORM coord_seen(p_agent, seen, p_at);
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
        -- Nothing but (at most) the sign of life changed: its commit need not wait for the WAL flush (a crash could only
        -- lose a last-seen time). A cursor move always waits, as every message write does.
        PERFORM set_config('synchronous_commit', 'off', true);
      END IF;
    END $f$;
`;
