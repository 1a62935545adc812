import type { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';

// Fixed word lists, so the same N always yields the same catalog and a
// discovery benchmark can be compared run to run.
const VERBS = [
  'Search',
  'List',
  'Create',
  'Delete',
  'Summarize',
  'Translate',
  'Convert',
  'Validate',
  'Fetch',
  'Archive',
  'Schedule',
  'Compare',
  'Index',
  'Export',
  'Import',
  'Resize',
  'Encrypt',
  'Monitor',
  'Rank',
  'Tag',
] as const;
const OBJECTS = [
  'invoices',
  'calendar events',
  'git commits',
  'weather forecasts',
  'customer tickets',
  'images',
  'PDF documents',
  'database rows',
  'log files',
  'emails',
  'stock quotes',
  'recipes',
  'flight bookings',
  'support articles',
  'sensor readings',
  'playlists',
  'contracts',
  'spreadsheets',
  'map routes',
  'code snippets',
] as const;
const QUALIFIERS = [
  'by date range',
  'for a given user',
  'in a shared workspace',
  'using full-text matching',
  'with pagination',
  'from a remote archive',
  'across all projects',
  'in the local cache',
  'by priority',
  'for the current week',
] as const;

function pick<T>(list: readonly T[], index: number): T {
  // The lists are non-empty constants; the modulo keeps the index in range.
  return list[index % list.length] as T;
}

/** Name of the i-th generated tool: gen_0000, gen_0001, ... */
export function generatedToolName(index: number): string {
  return `gen_${String(index).padStart(4, '0')}`;
}

/** Description of the i-th generated tool; the first 400 verb/object pairs are all distinct. */
export function generatedToolDescription(index: number): string {
  const round = Math.floor(index / VERBS.length);
  // Shifting the object by the round makes each block of 20 pair every verb
  // with a different object, instead of repeating one object 20 times.
  const verb = pick(VERBS, index);
  const object = pick(OBJECTS, round + index);
  const qualifier = pick(QUALIFIERS, index * 3 + round);
  return `${verb} ${object} ${qualifier}. (Generated demo tool ${index}: it only echoes its input text.)`;
}

/** Registers `count` generated echo tools, used to benchmark discovery over a large catalog. */
export function registerGeneratedTools(server: McpServer, count: number): void {
  for (let index = 0; index < count; index += 1) {
    server.registerTool(
      generatedToolName(index),
      {
        description: generatedToolDescription(index),
        inputSchema: z.object({ text: z.string().describe('Text to echo back.') }),
        annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
      },
      ({ text }) => ({ content: [{ type: 'text', text }] }),
    );
  }
}
