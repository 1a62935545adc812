import { afterAll, describe, expect, it } from 'vitest';
import { eventually, fixture, q, serverRow, startGateway, stopAll } from '../helpers/harness.js';

/*
 * A backend that answers initialize but never its tools/list: the listing
 * runs within the backend's start_timeout, not the SDK's default of 60 s,
 * so the start fails (and is retried) in the time the operator configured.
 */

afterAll(stopAll);

describe('tools/list at start', () => {
  it('fails a start whose tool listing does not answer within start_timeout, naming the listing', async () => {
    const gw = await startGateway(`
[coordination]
enabled = false

[[backends]]
name = "mute"
command = "node"
args = [${q(fixture('deaf-server'))}]
env = { DEAF_TO_LISTING = "1" }
start_timeout = 500
`);
    // With the SDK's 60 s default the first failure would come after a minute; eventually() gives up after 10 s.
    const row = await eventually(async () => {
      const found = await serverRow(gw, 'mute');
      return found.last_error !== null ? found : undefined;
    });
    expect(row.last_error).toMatch(/initialized but its tool listing failed/);
    expect(row.last_error).toMatch(/timed out/i);
    expect(row.status).not.toBe('running');
  });
});
