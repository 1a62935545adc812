import type { CallToolResult, ClientCapabilities, McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';

function textResult(text: string): CallToolResult {
  return { content: [{ type: 'text', text }] };
}

function errorResult(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

/**
 * Checks the capability up front: without enforceStrictCapabilities the SDK
 * would send the request anyway and surface a bare "Method not found".
 */
function missingCapability(
  server: McpServer,
  capability: keyof Pick<ClientCapabilities, 'sampling' | 'elicitation' | 'roots'>,
  tool: string,
): CallToolResult | undefined {
  if (server.server.getClientCapabilities()?.[capability] !== undefined) return undefined;
  return errorResult(
    `The connected client does not declare the '${capability}' capability, so the demo tool '${tool}' cannot ask it. ` +
      `Connect with a client that supports ${capability}.`,
  );
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Registers the tools that call back into the client: log, sample, elicit and roots. */
export function registerClientTools(server: McpServer): void {
  server.registerTool(
    'log',
    {
      title: 'Send a log message',
      description: 'Sends an MCP logging notification (notifications/message) with the given level and message, then returns "logged".',
      inputSchema: z.object({
        level: z.enum(['debug', 'info', 'warning', 'error']).optional().describe('Log level (default "info").'),
        message: z.string().describe('Text of the log message.'),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ level, message }, ctx) => {
      await server.sendLoggingMessage({ level: level ?? 'info', logger: 'demo', data: message }, ctx.sessionId);
      return textResult('logged');
    },
  );

  server.registerTool(
    'sample',
    {
      title: 'Ask the client to sample',
      description: "Asks the calling client's language model to answer the prompt (MCP sampling, at most 100 tokens) and returns its answer text.",
      inputSchema: z.object({ prompt: z.string().describe('Prompt to send to the client for completion.') }),
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    async ({ prompt }, ctx) => {
      const missing = missingCapability(server, 'sampling', 'sample');
      if (missing) return missing;
      try {
        const result = await server.server.createMessage(
          { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 },
          // relatedRequestId keeps the request on this call's stream when the
          // transport has several (Streamable HTTP); signal stops it on cancel.
          { relatedRequestId: ctx.mcpReq.id, signal: ctx.mcpReq.signal },
        );
        const blocks = Array.isArray(result.content) ? result.content : [result.content];
        const text = blocks.map((block) => (block.type === 'text' ? block.text : `[${block.type}]`)).join('\n');
        return textResult(text);
      } catch (error) {
        return errorResult(`Sampling request to the client failed: ${describeError(error)}`);
      }
    },
  );

  server.registerTool(
    'elicit',
    {
      title: 'Ask the user a question',
      description: 'Asks the user, through the client (MCP elicitation), for a one-field answer and returns the action and content as JSON.',
      inputSchema: z.object({ message: z.string().describe('Question to show to the user.') }),
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    async ({ message }, ctx) => {
      const missing = missingCapability(server, 'elicitation', 'elicit');
      if (missing) return missing;
      try {
        const result = await server.server.elicitInput(
          {
            message,
            requestedSchema: {
              type: 'object',
              properties: { answer: { type: 'string', description: 'Your answer.' } },
              required: ['answer'],
            },
          },
          { relatedRequestId: ctx.mcpReq.id, signal: ctx.mcpReq.signal },
        );
        return textResult(JSON.stringify({ action: result.action, content: result.content ?? null }));
      } catch (error) {
        return errorResult(`Elicitation request to the client failed: ${describeError(error)}`);
      }
    },
  );

  server.registerTool(
    'roots',
    {
      title: 'List client roots',
      description: 'Asks the client for its roots (MCP roots/list) and returns them as JSON.',
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (extra) => {
      const missing = missingCapability(server, 'roots', 'roots');
      if (missing) return missing;
      try {
        const result = await server.server.listRoots(undefined, { relatedRequestId: extra.mcpReq.id, signal: extra.mcpReq.signal });
        return textResult(JSON.stringify(result.roots));
      } catch (error) {
        return errorResult(`Roots request to the client failed: ${describeError(error)}`);
      }
    },
  );
}
