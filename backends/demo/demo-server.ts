import { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { registerBasicTools } from './basic-tools.js';
import { registerClientTools } from './client-tools.js';
import { registerGeneratedTools } from './generated-tools.js';
import { registerSleepTool } from './sleep-tool.js';

/** Options for {@link createDemoServer}. */
export interface DemoServerOptions {
  /** How many generated `gen_NNNN` tools to add on top of the fixed set (default 0). */
  extraTools?: number;
}

const README = `# demo

A small MCP server that ships with stonegate so the gateway can be tried
without installing anything else, and so tests have a predictable backend.

Tools: echo, add, sleep, fail, crash, large, pid, log, sample, elicit, roots.
Set DEMO_EXTRA_TOOLS=N to add N generated tools (gen_0000, gen_0001, ...).
`;

/** Builds the demo MCP server with every tool, the readme resource and the greet prompt; not yet connected. */
export function createDemoServer(options: DemoServerOptions = {}): McpServer {
  const server = new McpServer(
    { name: 'demo', version: '0.1.0' },
    {
      // logging is declared so the `log` tool may send notifications/message;
      // the SDK refuses to send them otherwise.
      capabilities: { logging: {} },
      instructions: 'Demo backend for trying stonegate. Every tool is harmless; `crash` ends this server process on purpose.',
    },
  );

  registerBasicTools(server);
  registerSleepTool(server);
  registerClientTools(server);
  registerGeneratedTools(server, options.extraTools ?? 0);

  server.registerResource(
    'readme',
    'demo://readme',
    {
      title: 'Demo server readme',
      description: 'What the demo server is for and which tools it offers.',
      mimeType: 'text/markdown',
    },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/markdown', text: README }] }),
  );

  server.registerPrompt(
    'greet',
    {
      title: 'Greet someone',
      description: 'A prompt asking the model to greet a person by name.',
      argsSchema: z.object({ name: z.string().describe('Name of the person to greet.') }),
    },
    ({ name }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Please greet ${name} warmly in one sentence.` } }],
    }),
  );

  return server;
}
