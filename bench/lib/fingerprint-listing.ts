import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Tool } from '@modelcontextprotocol/client';

/*
 * One process of the fingerprints bench (#31): applies listings of TOOLS
 * tools to a Catalog over one fingerprint store of one build, and prints
 * the CPU µs of each listing as one JSON line. A process per build and
 * store, as a gateway has one store: within one process the catalog's call
 * sites would see every store class and slow them all down.
 *
 *   node dist/bench/lib/fingerprint-listing.js <dist> <memory|sqlite|postgres> <rounds> [postgres url]
 */

export const TOOLS = 200;

type Ctor = new (...args: unknown[]) => unknown;
interface CatalogLike {
  useFingerprints(store: unknown): void;
  set(server: string, tools: readonly Tool[]): void;
}

export function tools(version: number): Tool[] {
  return Array.from({ length: TOOLS }, (_, i) => ({
    name: `tool_${i}`,
    description: `Tool ${i}, definition ${version}: does one thing with its arguments and says what it did.`,
    inputSchema: { type: 'object', properties: { text: { type: 'string', description: `input ${i}` }, n: { type: 'number' } }, required: ['text'] },
  }));
}

async function main(): Promise<void> {
  const [dist = '', kind = '', roundsArg = '20', url = ''] = process.argv.slice(2);
  const load = async (path: string): Promise<Record<string, unknown>> => (await import(pathToFileURL(join(dist, path)).href)) as Record<string, unknown>;
  const [catalogJs, fingerprintsJs, databaseJs, logJs] = await Promise.all([
    load('src/catalog/catalog.js'),
    load('src/catalog/fingerprints.js'),
    load('src/store/database.js'),
    load('src/log.js'),
  ]);
  let store: unknown;
  let drain = async (): Promise<void> => undefined;
  let close = async (): Promise<void> => undefined;
  if (kind === 'memory') store = new (fingerprintsJs.MemoryFingerprintStore as Ctor)();
  else if (kind === 'sqlite') {
    store = new (fingerprintsJs.SqliteFingerprintStore as Ctor)(
      (databaseJs.openDatabase as (d: string) => unknown)(mkdtempSync(join(tmpdir(), 'fp-listing-'))),
    );
  } else if (kind === 'postgres') {
    const [pgDb, pgStore] = await Promise.all([load('src/store/pg/database.js'), load('src/store/pg/fingerprint-store.js')]);
    const db = (await (pgDb.openPgDatabase as (s: unknown) => Promise<{ pool: unknown; close(): Promise<void> }>)({ url, max: 4 })) as {
      pool: unknown;
      close(): Promise<void>;
    };
    const shared = (await (pgStore.PgFingerprintStore as unknown as { open(pool: unknown): Promise<{ close(): Promise<void> }> }).open(db.pool)) as {
      close(): Promise<void>;
    };
    store = shared;
    drain = () => shared.close(); // waits for the writes queued so far
    close = () => db.close();
  } else throw new Error(`unknown store ${kind}`);
  const catalog = new (catalogJs.Catalog as Ctor)({
    separator: '__',
    ttlSeconds: 300,
    logger: (logJs.silentLogger as () => unknown)(),
    pin: true,
  }) as CatalogLike;
  catalog.useFingerprints(store);
  const cpu = (from: NodeJS.CpuUsage): number => {
    const used = process.cpuUsage(from);
    return used.user + used.system;
  };
  const [v1, v2] = [tools(1), tools(2)];
  const samples = { first: [] as number[], same: [] as number[], changed: [] as number[] };
  const rounds = Number(roundsArg);
  const prefix = `${kind}${process.pid}_`;
  for (let r = 0; r < rounds + 5; r += 1) {
    const name = `${prefix}${r}`;
    let t0 = process.cpuUsage();
    catalog.set(name, v1);
    const first = cpu(t0);
    await drain();
    t0 = process.cpuUsage();
    catalog.set(name, v1);
    const same = cpu(t0);
    await drain();
    t0 = process.cpuUsage();
    catalog.set(name, v2);
    const changed = cpu(t0);
    await drain();
    if (r < 5) continue; // warm-up
    samples.first.push(first);
    samples.same.push(same);
    samples.changed.push(changed);
  }
  await close();
  process.stdout.write(`${JSON.stringify(samples)}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
