import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coordReady, coordToml } from '../helpers/coord-harness.js';
import { ROOT, type RunningGateway, startGateway, stopAll } from '../helpers/harness.js';

/*
 * examples/claims-agents.mjs against a real gateway, so the script the
 * docs/coordination.md shows cannot rot: three agents announce, conflict, negotiate,
 * hand off a task and share a versioned key through /mcp.
 */

const run = promisify(execFile);
let gw: RunningGateway;

beforeAll(async () => {
  gw = await startGateway(coordToml());
  await coordReady(gw);
});
afterAll(stopAll);

describe('examples/claims-agents.mjs', () => {
  it('runs the three scripted agents to the end against the gateway', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'examples', 'claims-agents.mjs')], {
      cwd: ROOT,
      env: { ...process.env, STONEGATE_URL: gw.url, RUN_ID: 'it' },
      timeout: 60_000,
    });
    const lines = stdout.split('\n');
    const line = (prefix: string): string => lines.find((l) => l.includes(prefix) && !l.includes(' inbox: ')) ?? `(no line with ${prefix})`;
    expect(line('announce src/auth/**')).toContain('conflict (score 100)');
    expect(line('conflict with alice')).toContain('100 same_file');
    expect(line('thread opened')).toContain('between bob, alice');
    expect(line('heartbeat')).toContain('"unread":1');
    expect(line('approve ->')).toContain('thread resolved (consensus)');
    expect(line('re-announce')).toContain('caution (score 30, module)');
    expect(line('task claimed')).toContain('Update auth tests');
    expect(line('stale write')).toContain('CONFLICT, current version 2');
    expect(line('task complete')).toContain('schema v2');
    expect(line('status: ')).toContain('0 live claims, 0 hot paths, 0 open threads (thread closed)');
  });
});
