// GET /readyz: whether a load balancer should send this gateway traffic.
// Ready only when the stores answer and every enabled backend has started;
// /livez answers while the process serves at all. Both need no token, so
// the reason gives counts, never backend names, paths or secrets (GET
// /health and GET /server/list say which and why).

/** The body of GET /readyz. */
export interface Readiness {
  status: 'ready' | 'not_ready';
  /** Why not, in one sentence (absent when ready). */
  reason?: string;
}

/** What GET /readyz reads of the gateway. */
export interface ReadinessSources {
  /** The stores' check (the gateway database and the coordination store); undefined until they are open. */
  storeCheck(): Promise<{ status: string } | undefined>;
  /** The enabled backends (a backend stopped through the API does not count) and their states. */
  enabledBackends(): readonly { state: string }[];
}

/** Running, or running with a transport fault being recovered (degraded): started either way. */
const STARTED = new Set(['running', 'degraded']);

/** Ready when every store answers and every enabled backend has started. */
export async function readiness(sources: ReadinessSources): Promise<Readiness> {
  let store: { status: string } | undefined;
  try {
    store = await sources.storeCheck();
  } catch {
    store = { status: 'down' };
  }
  if (store === undefined) return { status: 'not_ready', reason: 'The stores are not open yet.' };
  if (store.status !== 'ok') return { status: 'not_ready', reason: 'A store does not answer; GET /health says which and what to do.' };
  const backends = sources.enabledBackends();
  const waiting = backends.filter((b) => !STARTED.has(b.state)).length;
  if (waiting > 0) {
    return {
      status: 'not_ready',
      reason: `${waiting} of ${backends.length} enabled backends not started; GET /server/list (admin) shows which and why.`,
    };
  }
  return { status: 'ready' };
}
