/*
 * FROZEN: the task functions as coordination schema step 7 created them
 * (migration-lockfree.ts); a released step never changes. Step 8 replaces
 * them (task-functions.ts, which has the current argument).
 *
 * The task queue's writes on PostgreSQL as server-side functions (part of
 * coordination schema step 7, migration-lockfree.ts): post, claim, complete
 * and renew are one call each, without the store-wide write lock.
 *
 * Why no global lock is needed. A claim picks its row with FOR UPDATE SKIP
 * LOCKED and re-checks status = 'pending' in the same UPDATE, so two
 * claimers never get one task. Complete and renew update the row only where
 * it is still claimed by the caller with the current epoch (a compare-and-
 * set on the row itself). Task seq (the posting order claims break ties by)
 * comes from a sequence: concurrent posts may commit out of seq order, which
 * only decides which of two equal tasks is claimed first; no reader pages by
 * it. Lapsed claims are re-queued row by row under their row locks.
 *
 * Lock order, the same in every writer, so none deadlocks: the acting
 * agent's row first (a deregistration takes it FOR UPDATE before it returns
 * the agent's tasks), then lapsed task rows in seq order, then the task the
 * call is about.
 *
 * A refusal is not an exception: complete and renew answer the task row as
 * it is, and the caller words the refusal with the rules both stores share.
 */
export const TASK_FUNCTIONS = `
    -- Lapsed claims back to pending (attempts + 1), a task_requeued event each, in posting order. Returns how many.
    CREATE FUNCTION coord_task_requeue(p_at BIGINT, p_keep BIGINT) RETURNS INTEGER LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      r RECORD;
      n INTEGER := 0;
    BEGIN
      FOR r IN
        WITH old AS (SELECT seq, claimed_by FROM tasks WHERE status = 'claimed' AND lease_expires_at <= p_at ORDER BY seq FOR UPDATE),
             upd AS (UPDATE tasks t SET status = 'pending', claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL,
                       attempts = t.attempts + 1, updated_at = p_at
                     FROM old WHERE t.seq = old.seq
                     RETURNING t.seq, t.id, t.channel, t.epoch, t.attempts, old.claimed_by AS previous)
        SELECT * FROM upd ORDER BY seq
      LOOP
        PERFORM coord_event('task_requeued', r.channel,
          json_build_object('task_id', r.id, 'previous_claimer', r.previous, 'epoch', r.epoch, 'attempts', r.attempts)::text, p_at, p_keep);
        n := n + 1;
      END LOOP;
      RETURN n;
    END $f$;

    -- A task. poster_channel NULL: the poster is not registered; another channel: it acts elsewhere (task NULL).
    CREATE FUNCTION coord_task_post(p_id TEXT, p_channel TEXT, p_description TEXT, p_poster TEXT, p_capability TEXT, p_priority BIGINT,
        p_metadata TEXT, p_at BIGINT, p_data TEXT, p_keep BIGINT, p_notify TEXT, OUT poster_channel TEXT, OUT task JSON) LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      t tasks;
    BEGIN
      SELECT channel INTO poster_channel FROM agents WHERE id = p_poster FOR KEY SHARE;
      IF poster_channel IS DISTINCT FROM p_channel THEN
        RETURN;
      END IF;
      INSERT INTO channels (name, description, created_by, created_at) VALUES (p_channel, NULL, p_poster, p_at) ON CONFLICT (name) DO NOTHING;
      IF FOUND THEN
        PERFORM coord_event('channel_created', p_channel, json_build_object('name', p_channel, 'created_by', p_poster, 'description', NULL)::text, p_at, p_keep);
      END IF;
      INSERT INTO tasks (seq, id, channel, description, posted_by, required_capability, priority, metadata, status, created_at, updated_at)
        VALUES (nextval('task_seqs'), p_id, p_channel, p_description, p_poster, p_capability, p_priority, p_metadata, 'pending', p_at, p_at)
        RETURNING * INTO t;
      PERFORM coord_event('task_posted', p_channel, p_data, p_at, p_keep);
      task := row_to_json(t);
      PERFORM pg_notify(p_notify, 'events');
    END $f$;

    -- A claim of the best pending task. agent_channel NULL: not registered; another channel: refused (nothing changed).
    -- task NULL with pending set: nothing to claim.
    CREATE FUNCTION coord_task_claim(p_agent TEXT, p_channel TEXT, p_at BIGINT, p_expires BIGINT, p_expires_iso TEXT, p_keep BIGINT, p_notify TEXT,
        OUT agent_channel TEXT, OUT agent_capabilities TEXT, OUT task JSON, OUT pending BIGINT) LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      t tasks;
    BEGIN
      SELECT a.channel, a.capabilities INTO agent_channel, agent_capabilities FROM agents a WHERE a.id = p_agent FOR NO KEY UPDATE;
      IF agent_channel IS DISTINCT FROM p_channel THEN
        RETURN;
      END IF;
      UPDATE agents SET last_heartbeat = GREATEST(last_heartbeat, p_at) WHERE id = p_agent;
      PERFORM coord_task_requeue(p_at, p_keep);
      UPDATE tasks SET status = 'claimed', claimed_by = p_agent, claimed_at = p_at, lease_expires_at = p_expires, epoch = epoch + 1, updated_at = p_at
        WHERE seq = (
          SELECT seq FROM tasks
          WHERE channel = p_channel AND status = 'pending'
            AND (required_capability IS NULL OR required_capability IN (SELECT jsonb_array_elements_text(agent_capabilities::jsonb)))
          ORDER BY priority DESC, seq ASC LIMIT 1
          FOR UPDATE SKIP LOCKED)
        AND status = 'pending'
        RETURNING * INTO t;
      IF FOUND THEN
        task := row_to_json(t);
        PERFORM coord_event('task_claimed', p_channel,
          json_build_object('task_id', t.id, 'agent_id', p_agent, 'epoch', t.epoch, 'lease_expires_at', p_expires_iso)::text, p_at, p_keep);
      ELSE
        pending := (SELECT COUNT(*) FROM tasks WHERE channel = p_channel AND status = 'pending');
      END IF;
      PERFORM pg_notify(p_notify, 'events');
    END $f$;

    -- Completes (or fails) a task its caller holds. done FALSE: refused; task is the row as it is (NULL: no such task), known whether the agent is registered.
    CREATE FUNCTION coord_task_complete(p_task TEXT, p_agent TEXT, p_epoch BIGINT, p_status TEXT, p_result TEXT, p_at BIGINT, p_data TEXT, p_keep BIGINT,
        p_notify TEXT, OUT done BOOLEAN, OUT known BOOLEAN, OUT task JSON) LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      t tasks;
    BEGIN
      UPDATE agents SET last_heartbeat = GREATEST(last_heartbeat, p_at) WHERE id = p_agent;
      known := FOUND;
      PERFORM coord_task_requeue(p_at, p_keep);
      done := FALSE;
      IF known THEN
        UPDATE tasks SET status = p_status, result = p_result, lease_expires_at = NULL, completed_at = p_at, updated_at = p_at
          WHERE id = p_task AND status = 'claimed' AND claimed_by = p_agent AND (p_epoch IS NULL OR epoch = p_epoch)
          RETURNING * INTO t;
        done := FOUND;
      END IF;
      IF done THEN
        PERFORM coord_event(CASE WHEN p_status = 'complete' THEN 'task_completed' ELSE 'task_failed' END, t.channel, p_data, p_at, p_keep);
      ELSE
        SELECT * INTO t FROM tasks WHERE id = p_task;
      END IF;
      task := CASE WHEN t.id IS NULL THEN NULL ELSE row_to_json(t) END;
      PERFORM pg_notify(p_notify, 'events');
    END $f$;

    -- Renews a lease its caller holds with the current epoch; refusals as in coord_task_complete.
    CREATE FUNCTION coord_task_renew(p_task TEXT, p_agent TEXT, p_epoch BIGINT, p_at BIGINT, p_expires BIGINT, p_data TEXT, p_keep BIGINT, p_notify TEXT,
        OUT done BOOLEAN, OUT known BOOLEAN, OUT task JSON) LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      t tasks;
    BEGIN
      UPDATE agents SET last_heartbeat = GREATEST(last_heartbeat, p_at) WHERE id = p_agent;
      known := FOUND;
      PERFORM coord_task_requeue(p_at, p_keep);
      done := FALSE;
      IF known THEN
        UPDATE tasks SET lease_expires_at = p_expires, updated_at = p_at
          WHERE id = p_task AND status = 'claimed' AND claimed_by = p_agent AND epoch = p_epoch
          RETURNING * INTO t;
        done := FOUND;
      END IF;
      IF done THEN
        PERFORM coord_event('task_renewed', t.channel, p_data, p_at, p_keep);
      ELSE
        SELECT * INTO t FROM tasks WHERE id = p_task;
      END IF;
      task := CASE WHEN t.id IS NULL THEN NULL ELSE row_to_json(t) END;
      PERFORM pg_notify(p_notify, 'events');
    END $f$;
`;
