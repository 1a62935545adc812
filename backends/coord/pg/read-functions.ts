import { pollWithLazyAfterAck } from './batch-functions.js';

/*
 * Coordination schema step 12 on PostgreSQL ([pg-speed], issue #31): what
 * a delivered message costs the database, found with the coord-pg profile
 * and the plans of the statements inside the functions.
 *
 * PAGE READ. coord_poll read its page as
 *   inbox i JOIN messages m ON m.id = i.message_id WHERE i.<inbox> AND i.message_id > from ORDER BY i.message_id LIMIT n
 * PL/pgSQL keeps one plan for that statement for any parameters (a generic
 * plan) once PostgreSQL judges it no dearer than planning each call, and
 * with unknown parameters the plan it keeps is a merge join that walks
 * messages' primary key from the first id: the bound on i.message_id does
 * not reach m.id. Seen in a schema-11 database of 9,000 messages (the
 * plan logged by auto_explain from the 8th call of a session on): a poll
 * that returned 5 messages read 8,994 message rows, 3.9 ms. Now the page's
 * inbox rows are taken first (LIMIT inside), and each one's message is
 * looked up by id in a LATERAL subquery that OFFSET 0 keeps PostgreSQL
 * from turning back into a join: whatever the plan, a poll reads its
 * page's messages and no others (test/issues/31-pg-poll-read.test.ts
 * counts them; on a table of a few hundred rows a lookup may be a scan of
 * the table, cheaper there). Same rows, same order; ORDER and the other
 * arguments of coord_poll do not change (only the statement that reads
 * the page does).
 *
 * NO FOREIGN KEY from inbox to messages. The key's trigger ran a
 * SELECT ... FOR KEY SHARE of the new message for each inbox row a send
 * wrote: a statement, and a row lock that writes the message's row again
 * (a WAL record) in every send. The functions write a message and its
 * inbox rows in one statement or transaction, and only retention deletes
 * messages, each after its inbox rows (pg/retention.ts); a poll joins
 * inbox rows to messages, so a row without its message could not be read
 * anyway. The index inbox_by_message stays: retention deletes by it.
 */
/** The step-10 coord_poll with its page read inbox rows first (PAGE READ above). */
function pollReadingPageRowsOnly(): string {
  const join =
    '        SELECT m.* FROM inbox i JOIN messages m ON m.id = i.message_id\n' +
    '        WHERE i.recipient = p_agent AND i.channel = p_channel AND i.message_id > from_id\n' +
    '        ORDER BY i.message_id LIMIT p_limit) x;';
  const body = pollWithLazyAfterAck();
  if (body.split(join).length !== 2) throw new Error("step 12: coord_poll's page read is not where expected");
  return body.replace(
    join,
    "        -- The page's inbox rows first, then each one's message by id, never a join over messages (PAGE READ, pg/read-functions.ts).\n" +
      '        SELECT m.* FROM (SELECT message_id FROM inbox WHERE recipient = p_agent AND channel = p_channel AND message_id > from_id\n' +
      '          ORDER BY message_id LIMIT p_limit) i, LATERAL (SELECT * FROM messages WHERE id = i.message_id OFFSET 0) m) x;',
  );
}

export const READ_FUNCTIONS = `
    ALTER TABLE inbox DROP CONSTRAINT IF EXISTS inbox_message_id_fkey;

    ${pollReadingPageRowsOnly()}
`;
