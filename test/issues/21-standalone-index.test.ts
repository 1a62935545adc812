import { afterAll, describe, expect, it } from 'vitest';
import { startCoord, stopAll } from '../helpers/coord-standalone.js';

/*
 * Issue #21 item 13 added /coord/livez and /coord/readyz, but the standalone
 * server's `GET /` index, which tells a new user where everything is, still
 * listed only mcp, rest, events and health. It now lists the probes too, and
 * each path it lists answers.
 */

afterAll(() => stopAll());

describe('issue 21: the standalone index lists the probes', () => {
  it('GET / names /coord/livez and /coord/readyz, and every path it names answers', async () => {
    const coord = await startCoord(':memory:');
    const res = await fetch(`${coord.url}/`);
    expect(res.status).toBe(200);
    const index = (await res.json()) as Record<string, string>;
    expect(index).toMatchObject({ livez: '/coord/livez', readyz: '/coord/readyz', health: '/coord/health' });
    for (const key of ['health', 'livez', 'readyz'] as const) {
      const probe = await fetch(`${coord.url}${index[key]}`);
      expect(probe.status, `${key}: ${index[key]}`).toBe(200);
      await probe.body?.cancel();
    }
  });
});
