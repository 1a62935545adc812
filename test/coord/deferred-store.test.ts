import { describe, expect, it } from 'vitest';
import { deferredStore } from '../../backends/coord/deferred-store.js';
import { openSqliteStore } from '../../backends/coord/sqlite-store.js';
import type { CoordStore } from '../../backends/coord/store.js';
import { expectCode } from '../helpers/coord-store.js';

describe('deferred store', () => {
  it('opens on first use (once), forwards calls, and is not a thenable', async () => {
    let opened = 0;
    const { store } = deferredStore('sqlite', async () => {
      opened += 1;
      return openSqliteStore(':memory:');
    });
    expect(store.kind).toBe('sqlite');
    expect(opened).toBe(0);
    // `await` must give the proxy back, not call a forwarded then().
    expect(await Promise.resolve(store)).toBe(store);
    const [a, b] = await Promise.all([store.registerAgent({ agent_id: 'a', role: 'r' }), store.registerAgent({ agent_id: 'b', role: 'r' })]);
    expect([a.created, b.created]).toEqual([true, true]);
    expect(opened).toBe(1);
    expect((await store.discoverAgents({})).map((x) => x.id)).toEqual(['a', 'b']);
    // [pg-speed] Once open, a method is the open store's, forwarded without a wrapper per access (and per call).
    expect(store.heartbeat).toBe(store.heartbeat);
    const heartbeat = store.heartbeat;
    await store.close();
    await expectCode(heartbeat('a'), 'UNAVAILABLE');
    await store.close();
    await expectCode(store.heartbeat('a'), 'UNAVAILABLE');
  });

  it('surfaces an opening failure through ready() and every call, and closes without opening', async () => {
    const { store, ready } = deferredStore('postgres', () => Promise.reject(new Error('no database')));
    await expect(ready()).rejects.toThrow('no database');
    await expect(store.listChannels()).rejects.toThrow('no database');
    await store.close();
    const untouched = deferredStore('postgres', () => Promise.reject(new Error('never opened')));
    await untouched.store.close();
    await expectCode((untouched.store as CoordStore).stats(), 'UNAVAILABLE');
  });
});
