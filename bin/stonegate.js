#!/usr/bin/env node
// Entry point of the `stonegate` command: runs the compiled CLI.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('stonegate: dist/ is missing; run `npm run build` (npm ci does it too) first\n');
  process.exit(1);
}
// [speed] V8's start-up sizing before any other module loads (dist/src/cli/heap.js imports only node:v8 and node:vm).
const { applyStartupHeap } = await import(new URL('../dist/src/cli/heap.js', import.meta.url).href);
applyStartupHeap();
const { main } = await import(cli.href);
const code = await main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
