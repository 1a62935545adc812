import { z } from 'zod';
import { type HeldListen, holdListenStream } from '../pool/backend-era.js';
import type { Router } from '../router/router.js';

/*
 * [mcp-ext] A backend's resource subscription, in the backend's era. A 2025
 * connection takes resources/subscribe and resources/unsubscribe. A
 * 2026-07-28 one has neither (the SDK refuses them on that era): the
 * gateway opens a subscriptions/listen stream to it that names the URI in
 * `resourceSubscriptions` (opened again when the backend ends it while the
 * connection lives: holdListenStream), and closes it to unsubscribe. What the
 * stream carries reaches the connection's notification handlers, as a 2025
 * backend's notifications do (backend-hooks.ts: resources/updated goes to
 * the sessions and listen streams that watch the URI). The callers count
 * who watches a URI (Sessions.isSubscribed): these run for the first
 * watcher and after the last.
 */

const Loose = z.looseObject({});

/** The open listen streams of each gateway's 2026-07-28 backends, by backend and URI (pending while acknowledged). */
const streams = new WeakMap<Router, Map<string, Promise<HeldListen | undefined>>>();

function streamsOf(router: Router): Map<string, Promise<HeldListen | undefined>> {
  let held = streams.get(router);
  if (held === undefined) {
    held = new Map();
    streams.set(router, held);
  }
  return held;
}

/** Subscribes the gateway to a backend URI: resources/subscribe on a 2025 connection, a listen stream on a 2026-07-28 one. */
export async function subscribeBackend(router: Router, server: string, uri: string, signal?: AbortSignal): Promise<void> {
  const held = streamsOf(router);
  const key = `${server}\u0000${uri}`;
  const open = held.get(key);
  if (open !== undefined) {
    await open;
    return;
  }
  const opening = router.forward(
    server,
    'resources/subscribe',
    async (connection, options) => {
      if (connection.era !== 'modern') {
        await connection.client.request({ method: 'resources/subscribe', params: { uri } }, Loose, options);
        return undefined;
      }
      // No signal: the stream outlives this request (the SDK times its acknowledgement out); it is opened again when the backend ends it.
      return holdListenStream(connection.client, { resourceSubscriptions: [uri] });
    },
    signal,
  );
  held.set(key, opening);
  const forget = (): void => {
    if (held.get(key) === opening) held.delete(key);
  };
  try {
    const subscription = await opening;
    // A 2025 backend keeps nothing here; a stream whose connection closed is opened again by a later subscriber.
    if (subscription === undefined) forget();
    else void subscription.over.then(forget);
  } catch (err) {
    forget();
    throw err;
  }
}

/** Lets a backend URI go: its listen stream closed (2026-07-28), or resources/unsubscribe (2025). */
export async function unsubscribeBackend(router: Router, server: string, uri: string, signal?: AbortSignal): Promise<void> {
  const held = streamsOf(router);
  const key = `${server}\u0000${uri}`;
  const open = held.get(key);
  held.delete(key);
  const subscription = await open?.catch(() => undefined);
  if (subscription !== undefined) {
    await subscription.close();
    return;
  }
  await router.forward(
    server,
    'resources/unsubscribe',
    async (connection, options) => {
      // A 2026-07-28 backend without an open stream for the URI has nothing to let go.
      if (connection.era !== 'modern') await connection.client.request({ method: 'resources/unsubscribe', params: { uri } }, Loose, options);
    },
    signal,
  );
}
