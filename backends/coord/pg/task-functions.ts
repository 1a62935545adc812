/*
 * The task queue's writes on PostgreSQL as server-side functions, as
 * coordination schema step 8 defines them (migration-lockfree-2.ts; step 7's
 * first version is task-functions-7.ts): post, claim, complete and renew
 * are one call each, without the store-wide write lock, and without NOTIFY
 * (the gateway announces after the commit: kit/pg-announcer.ts).
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
 * agent's row first (KEY SHARE, which a deregistration's FOR UPDATE waits
 * for, and which waits for it: the deregistration returns the agent's tasks
 * before the claim can see them), then lapsed task rows in seq order, then
 * the task the call is about.
 *
 * Last-seen times: the agent's row is written only when its last_heartbeat
 * is a second old or more (coord_seen), so a busy worker does not add a row
 * version per call; stale detection counts in minutes.
 *
 * A refusal is not an exception: complete and renew answer the task row as
 * it is, and the caller words the refusal with the rules both stores share.
 */
export const TASK_FUNCTIONS = `
    DROP FUNCTION coord_task_post(TEXT, TEXT, TEXT, TEXT, TEXT, BIGINT, TEXT, BIGINT, TEXT, BIGINT, TEXT);
    DROP FUNCTION coord_task_claim(TEXT, TEXT, BIGINT, BIGINT, TEXT, BIGINT, TEXT);
    DROP FUNCTION coord_task_complete(TEXT, TEXT, BIGINT, TEXT, TEXT, BIGINT, TEXT, BIGINT, TEXT);
    DROP FUNCTION coord_task_renew(TEXT, TEXT, BIGINT, BIGINT, BIGINT, TEXT, BIGINT, TEXT);

    -- A task. poster_channel NULL: the poster is not registered; another channel: it acts elsewhere (task NULL).
    CREATE FUNCTION coord_task_post(p_id TEXT, p_channel TEXT, p_description TEXT, p_poster TEXT, p_capability TEXT, p_priority BIGINT,
        p_metadata TEXT, p_at BIGINT, p_data TEXT, p_keep BIGINT, OUT poster_channel TEXT, OUT task JSON) LANGUAGE plpgsql VOLATILE AS $f$
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
    END $f$;

    -- A claim of the best pending task. agent_channel NULL: not registered; another channel: refused (nothing changed).
    -- task NULL with pending set: nothing to claim.
    CREATE FUNCTION coord_task_claim(p_agent TEXT, p_channel TEXT, p_at BIGINT, p_expires BIGINT, p_expires_iso TEXT, p_keep BIGINT,
        OUT agent_channel TEXT, OUT agent_capabilities TEXT, OUT task JSON, OUT pending BIGINT) LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      t tasks;
      seen BIGINT;
    BEGIN
      SELECT a.channel, a.capabilities, a.last_heartbeat INTO agent_channel, agent_capabilities, seen FROM agents a WHERE a.id = p_agent FOR KEY SHARE;
      IF agent_channel IS DISTINCT FROM p_channel THEN
        RETURN;
      END IF;
      PERFORM coord_seen(p_agent, seen, p_at);
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
    END $f$;

    -- Completes (or fails) a task its caller holds. done FALSE: refused; task is the row as it is (NULL: no such task), known whether the agent is registered.
    CREATE FUNCTION coord_task_complete(p_task TEXT, p_agent TEXT, p_epoch BIGINT, p_status TEXT, p_result TEXT, p_at BIGINT, p_data TEXT, p_keep BIGINT,
        OUT done BOOLEAN, OUT known BOOLEAN, OUT task JSON) LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      t tasks;
      seen BIGINT;
    BEGIN
      SELECT last_heartbeat INTO seen FROM agents WHERE id = p_agent FOR KEY SHARE;
      known := FOUND;
      PERFORM coord_task_requeue(p_at, p_keep);
      done := FALSE;
      IF known THEN
        PERFORM coord_seen(p_agent, seen, p_at);
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
    END $f$;

    -- Renews a lease its caller holds with the current epoch; refusals as in coord_task_complete.
    CREATE FUNCTION coord_task_renew(p_task TEXT, p_agent TEXT, p_epoch BIGINT, p_at BIGINT, p_expires BIGINT, p_data TEXT, p_keep BIGINT,
        OUT done BOOLEAN, OUT known BOOLEAN, OUT task JSON) LANGUAGE plpgsql VOLATILE AS $f$
    DECLARE
      t tasks;
      seen BIGINT;
    BEGIN
      SELECT last_heartbeat INTO seen FROM agents WHERE id = p_agent FOR KEY SHARE;
      known := FOUND;
      PERFORM coord_task_requeue(p_at, p_keep);
      done := FALSE;
      IF known THEN
        PERFORM coord_seen(p_agent, seen, p_at);
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
    END $f$;
`;
