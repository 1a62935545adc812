import { parentPort, workerData } from 'node:worker_threads';
import type { Tool } from '@modelcontextprotocol/client';

/*
 * [speed] One build's Catalog.discover in a worker thread of its own (#30):
 * the discover bench's in-process A/B runs this build and the base build
 * each in such a worker, so neither search shares a heap, its layout or its
 * JIT feedback with the other or with the bench's own loop. Loaded both in
 * the bench's thread, identical code measured 20–40 % apart on mid-sized
 * queries, against whichever build was loaded first.
 */

/** What the bench gives the worker: the catalog module to load and the tools to serve. */
export interface DiscoverWorkerData {
  /** file: URL of a build's dist/src/catalog/catalog.js. */
  catalogUrl: string;
  /** file: URL of the same build's dist/src/log.js. */
  logUrl: string;
  tools: Tool[];
  servers: string[];
}

interface CatalogLike {
  set(server: string, tools: Tool[]): void;
  discover(query: string, options: { limit: number }): { ranked: unknown[] };
}

const data = workerData as DiscoverWorkerData;
const { Catalog } = (await import(data.catalogUrl)) as { Catalog: new (options: object) => CatalogLike };
const { silentLogger } = (await import(data.logUrl)) as { silentLogger: () => unknown };
const catalog = new Catalog({ separator: '__', ttlSeconds: 300, logger: silentLogger() });
for (const server of data.servers) catalog.set(server, data.tools);

/** A message asks for one pass over `queries`; the answer is each query's milliseconds, in order. */
parentPort?.on('message', (queries: string[]) => {
  const ms: number[] = [];
  for (const query of queries) {
    const t0 = performance.now();
    catalog.discover(query, { limit: 10 });
    ms.push(performance.now() - t0);
  }
  parentPort?.postMessage(ms);
});
parentPort?.postMessage('ready');
