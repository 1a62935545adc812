/**
 * The unread-count query, written once for both engines. The channels an
 * agent has mail in are found by skipping along inbox's primary key
 * (recipient, channel, message_id) one channel at a time, and each channel
 * counts only the entries past the agent's cursor there: the cost follows
 * the unread messages and the channels, not every message the agent ever
 * got. With `cap`, counting stops at that many (every tool answer carries
 * the count, so its cost must stay bounded).
 */
export function unreadSql(dialect: 'sqlite' | 'postgres', cap?: number): string {
  const agent = dialect === 'sqlite' ? '@agent' : '$1';
  const past =
    `FROM inbox i WHERE i.recipient = ${agent} AND i.channel = channels.name ` +
    `AND i.message_id > COALESCE((SELECT position FROM cursors c WHERE c.agent_id = ${agent} AND c.channel = channels.name), 0)`;
  const count = cap === undefined ? `SELECT COUNT(*) ${past}` : `SELECT COUNT(*) FROM (SELECT 1 ${past} LIMIT ${cap}) AS capped`;
  let total = `COALESCE(SUM((${count})), 0)`;
  if (cap !== undefined) total = dialect === 'sqlite' ? `MIN(${total}, ${cap})` : `LEAST(${total}, ${cap})`;
  if (dialect === 'postgres') total = `(${total})::int`;
  return `
    WITH RECURSIVE channels(name) AS (
      SELECT MIN(channel) FROM inbox WHERE recipient = ${agent}
      UNION ALL
      SELECT (SELECT MIN(channel) FROM inbox WHERE recipient = ${agent} AND channel > name) FROM channels WHERE name IS NOT NULL
    )
    SELECT ${total} AS n FROM channels WHERE name IS NOT NULL`;
}

/** Where `_meta.unread` stops counting: "this many or more". */
export const UNREAD_COUNT_CAP = 1_000;
