#!/usr/bin/env node
// Entry point of the `stonegate` command: runs the compiled CLI.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('stonegate: dist/ is missing; run `npm run build` (npm ci does it too) first\n');
  process.exit(1);
}
const { main } = await import(cli.href);
const code = await main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
