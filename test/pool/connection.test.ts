import { afterEach, describe, expect, it } from 'vitest';
import type { Downstream } from '../../src/pool/connection.js';
import { connectionOf } from '../../src/pool/connection.js';
import { FakeBackend } from '../helpers/mcp-link.js';

const fake = new FakeBackend();
afterEach(() => fake.closeAll());

const downstream = (): Downstream => ({ capabilities: () => ({}), request: async () => ({}), notify: async () => undefined });

describe('Connection', () => {
  it('closes once however often close() is called, and reports the end as expected', async () => {
    const link = await fake.link();
    const { connection } = link;
    expect(connection.alive).toBe(true);
    const first = connection.close();
    expect(connection.alive).toBe(false);
    expect(connection.close()).toBe(first);
    await first;
    expect(link.shutdowns()).toBe(1);
    expect(await connection.ended).toEqual({ reason: 'connection closed', stderr: [], expected: true });
  });

  it('terminate() shuts the link down but reports the end as a failure with the given reason', async () => {
    const link = await fake.link();
    await link.connection.terminate('stopped answering health checks');
    expect(link.connection.alive).toBe(false);
    expect(link.shutdowns()).toBe(1);
    expect(await link.connection.ended).toEqual({ reason: 'stopped answering health checks', stderr: [], expected: false });
    // Once closed, a late terminate() changes nothing.
    const closed = await fake.link();
    await closed.connection.close();
    await closed.connection.terminate('too late');
    expect(await closed.connection.ended).toMatchObject({ expected: true, reason: 'connection closed' });
  });

  it('reports a link that died on the backend side as unexpected', async () => {
    const link = await fake.link();
    await link.kill();
    expect(await link.connection.ended).toMatchObject({ expected: false, reason: 'connection closed' });
    expect(link.connection.alive).toBe(false);
  });

  it('gives each connection its own id and finds it by its client', async () => {
    const a = await fake.link();
    const b = await fake.link();
    expect(a.connection.id).not.toBe(b.connection.id);
    expect(connectionOf(a.connection.client)).toBe(a.connection);
    expect(connectionOf(b.connection.client)).toBe(b.connection);
  });

  it('names a sole downstream only while exactly one call is in flight', async () => {
    const { connection } = await fake.link();
    const agent = downstream();
    expect(connection.soleDownstream()).toBeUndefined();
    connection.inflight = 1;
    connection.downstreams.add(agent);
    expect(connection.soleDownstream()).toBe(agent);
    connection.inflight = 2; // a second call without a downstream (REST) makes it ambiguous
    expect(connection.soleDownstream()).toBeUndefined();
    connection.downstreams.add(downstream());
    expect(connection.soleDownstream()).toBeUndefined();
  });

  it('names the session on a session’s own connection, however many of its calls are in flight', async () => {
    const { connection } = await fake.link();
    connection.session = 'a';
    expect(connection.soleDownstream()).toBeUndefined();
    const first = downstream();
    const second = downstream();
    connection.inflight = 2;
    connection.downstreams.add(first);
    connection.downstreams.add(second);
    expect(connection.soleDownstream()).toBe(second);
    connection.downstreams.delete(second);
    expect(connection.soleDownstream()).toBe(first);
  });
});
