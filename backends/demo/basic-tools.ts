import type { CallToolResult, McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';

/** Registers the self-contained demo tools: echo, add, fail, large, pid and crash. */
export function registerBasicTools(server: McpServer): void {
  server.registerTool(
    'echo',
    {
      title: 'Echo text',
      description: 'Returns the given text unchanged. Use it to check that a call reaches the demo server.',
      inputSchema: z.object({ text: z.string().describe('Text to send back.') }),
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ text }) => ({ content: [{ type: 'text', text }] }),
  );

  server.registerTool(
    'add',
    {
      title: 'Add two numbers',
      description: 'Adds two numbers and returns their sum, both as text and as structured output {sum}.',
      inputSchema: z.object({
        a: z.number().describe('First addend.'),
        b: z.number().describe('Second addend.'),
      }),
      outputSchema: z.object({ sum: z.number().describe('a + b') }),
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ a, b }) => {
      const sum = a + b;
      return { content: [{ type: 'text', text: String(sum) }], structuredContent: { sum } };
    },
  );

  server.registerTool(
    'fail',
    {
      title: 'Fail on purpose',
      description: 'Always returns a tool error (isError: true) with the given message. Use it to see how tool-level failures are reported.',
      inputSchema: z.object({ message: z.string().optional().describe('Error message to return (default "demo failure").') }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ message }) => ({ content: [{ type: 'text', text: message ?? 'demo failure' }], isError: true }),
  );

  server.registerTool(
    'large',
    {
      title: 'Large output',
      description: 'Returns one text block of exactly `bytes` characters, to test how large results are carried.',
      inputSchema: z.object({
        bytes: z.number().int().min(1).max(10_000_000).describe('Length of the returned text, 1 to 10,000,000.'),
      }),
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ bytes }) => {
      // A repeating alphabet rather than one letter, so truncation or
      // reordering by a proxy shows up in a comparison. Plain ASCII with
      // nothing to escape: characters, UTF-8 bytes and JSON bytes all match.
      const pattern = 'abcdefghijklmnopqrstuvwxyz0123456789';
      const text = pattern.repeat(Math.ceil(bytes / pattern.length)).slice(0, bytes);
      return { content: [{ type: 'text', text }] };
    },
  );

  server.registerTool(
    'pid',
    {
      title: 'Process id',
      description: 'Returns the operating-system process id of this demo server, to tell which process served a call.',
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    () => ({ content: [{ type: 'text', text: String(process.pid) }] }),
  );

  server.registerTool(
    'crash',
    {
      title: 'Crash the server',
      description: 'Terminates this demo server process immediately with the given exit code, without answering. Only for testing restarts.',
      inputSchema: z.object({
        code: z.number().int().min(0).max(255).optional().describe('Process exit code, 0 to 255 (default 1).'),
      }),
      annotations: { destructiveHint: true, readOnlyHint: false, openWorldHint: false },
    },
    ({ code }) =>
      // The promise never settles: the point is that no answer is ever sent.
      // Exit from the write callback because pipe writes are asynchronous on
      // macOS, and tests look for this line.
      new Promise<CallToolResult>(() => {
        process.stderr.write('demo: crashing\n', () => process.exit(code ?? 1));
      }),
  );
}
