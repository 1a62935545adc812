import { afterAll, afterEach, expect, it } from 'vitest';
import { type CoordSession, coordReady, coordToml, rest, SessionSet } from '../helpers/coord-harness.js';
import { type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * Nothing a client was told is stored may be lost when the gateway dies:
 * 1,000 sends acknowledged over REST and MCP, the gateway SIGKILLed, a new
 * gateway on the same data dir — every acknowledged message reaches its
 * recipient, and an at-least-once poller that acknowledges as it goes
 * (`after` = the last id it handled) gets none of them twice.
 */

const sessions = new SessionSet();
afterEach(() => sessions.closeAll());
afterAll(stopAll);

const SENDS = 1_000;
const SENDERS = 16;
/** The poller stops handling (without acknowledging its last batch) once it has handled this many before the crash. */
const HANDLED_BEFORE_CRASH = 300;

interface Msg {
  id: number;
  content: string;
}

/** An acknowledging poller: each poll passes the id of the last message it handled. */
class AckPoller {
  handled: Msg[] = [];
  cursor = 0;
  duplicates = 0;
  readonly #seen = new Set<number>();

  constructor(readonly agent: string) {}

  /** One poll over REST or MCP; handles what it gets. */
  async pollOnce(gw: RunningGateway, session: CoordSession, surface: 'rest' | 'mcp', timeout: number): Promise<number> {
    const after = this.cursor;
    const body =
      surface === 'rest'
        ? await rest(gw, 'GET', `/msg/poll?agent_id=${this.agent}&after=${after}&limit=25&timeout=${timeout}`)
        : await session.ok('mux_poll', { agent_id: this.agent, after, limit: 25, timeout });
    const messages = body.messages as Msg[];
    for (const m of messages) {
      expect(m.id, 'a poll returned a message at or before the acknowledged cursor').toBeGreaterThan(after);
      if (this.#seen.has(m.id)) this.duplicates += 1;
      this.#seen.add(m.id);
      this.handled.push(m);
    }
    this.cursor = body.next_cursor as number;
    return messages.length;
  }
}

it('delivers all 1,000 acknowledged sends after the gateway is SIGKILLed, none twice to an acknowledging poller', async () => {
  const toml = coordToml();
  const first = await startGateway(toml, { keep: true });
  await coordReady(first);
  await rest(first, 'POST', '/agent/register', { agent_id: 'dur-tx', role: 'sender' });
  await rest(first, 'POST', '/agent/register', { agent_id: 'dur-rx', role: 'receiver' });

  const poller = new AckPoller('dur-rx');
  const pollSession = await sessions.open(first.url, 'dur-poller');
  const polling = (async () => {
    for (let i = 0; poller.handled.length < HANDLED_BEFORE_CRASH; i += 1) await poller.pollOnce(first, pollSession, i % 2 === 0 ? 'rest' : 'mcp', 5);
  })();

  // 16 senders, half of the sends over REST and half over MCP.
  const acked = new Map<number, string>();
  const senders = await Promise.all(Array.from({ length: SENDERS }, (_, i) => sessions.open(first.url, `dur-sender-${i}`)));
  let next = 0;
  await Promise.all(
    senders.map(async (session) => {
      for (let i = next++; i < SENDS; i = next++) {
        const content = `m-${i}`;
        const answer =
          i % 2 === 0
            ? await rest(first, 'POST', '/msg/send', { from: 'dur-tx', to: 'dur-rx', content })
            : await session.ok('mux_send', { from: 'dur-tx', to: 'dur-rx', content });
        acked.set(answer.id as number, content);
      }
    }),
  );
  expect(acked.size).toBe(SENDS);
  await polling;
  const handledBefore = poller.handled.length;
  expect(handledBefore).toBeGreaterThanOrEqual(HANDLED_BEFORE_CRASH);
  expect(handledBefore).toBeLessThan(SENDS);

  // Every send is acknowledged; the last batch the poller handled is not yet acknowledged to the server.
  expect(await first.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
  await sessions.closeAll();

  const second = await startGateway(toml, { dir: first.dir });
  await coordReady(second);
  const session = await sessions.open(second.url, 'dur-poller-again');
  for (let i = 0; poller.handled.length < SENDS + 5; i += 1) {
    const got = await poller.pollOnce(second, session, i % 2 === 0 ? 'mcp' : 'rest', 0);
    if (got === 0) break;
  }

  expect(poller.duplicates, 'a message came twice to the acknowledging poller').toBe(0);
  expect(poller.handled.length).toBe(SENDS);
  expect(new Map(poller.handled.map((m) => [m.id, m.content]))).toEqual(acked);
  // In order: ids only grow.
  for (const [i, m] of poller.handled.entries()) if (i > 0) expect(m.id).toBeGreaterThan(poller.handled[i - 1]!.id);

  // The store itself holds every acknowledged message, whoever reads it.
  const history = (await rest(second, 'GET', '/msg/history?agent_id=dur-tx&with_agent=dur-rx&limit=1000')).messages as Msg[];
  expect(new Map(history.map((m) => [m.id, m.content]))).toEqual(acked);
}, 120_000);
