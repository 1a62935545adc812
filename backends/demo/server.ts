// Stdio entry point of the demo backend: `node dist/backends/demo/server.js`.
// Env: DEMO_EXTRA_TOOLS=N adds N generated tools (see generated-tools.ts).
import { StdioServerTransport } from '@modelcontextprotocol/server/stdio';
import { createDemoServer } from './demo-server.js';

function extraToolsFromEnv(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 0;
  const count = Number(raw);
  if (!Number.isInteger(count) || count < 0) {
    process.stderr.write(`demo: ignoring DEMO_EXTRA_TOOLS=${raw}; expected a non-negative integer\n`);
    return 0;
  }
  return count;
}

const server = createDemoServer({ extraTools: extraToolsFromEnv(process.env.DEMO_EXTRA_TOOLS) });
const transport = new StdioServerTransport();

// StdioServerTransport never notices that stdin ended, and a running `sleep`
// timer would keep the process alive. A closed stdin means the client is
// gone, so exit 0 at once. No server.close() first: it would abort in-flight
// handlers and make `sleep` log a cancellation that no client asked for.
process.stdin.once('end', () => process.exit(0));

server.connect(transport).then(
  () => process.stderr.write(`demo: ready (pid ${process.pid})\n`),
  (error: unknown) => {
    process.stderr.write(`demo: failed to start: ${String(error)}\n`);
    process.exit(1);
  },
);
