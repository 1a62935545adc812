import { z } from 'zod';

/*
 * Input fields that several coordination operations share, with the
 * descriptions models read in the MCP tool list. The operation schemas
 * (agent.ts, message.ts, …) are built from these.
 */

export const agentId = z.string().describe('Your agent id (case-sensitive), e.g. "researcher".');
export const channel = z.string().optional().describe('Channel (namespace); default "default". Nothing crosses from one channel to another.');
export const repo = z
  .string()
  .optional()
  .describe(
    'Id of the repository the paths are in (e.g. "stonegate" or a remote URL). Default "default". Equal paths in different repos never conflict; use the same id as the agents you work with.',
  );
export const paths = z
  .array(z.string())
  .describe(
    'Files you will modify, relative to the repository root, with forward slashes. Globs allowed: * and ? within a folder, ** for any depth, a trailing / for a whole folder (e.g. ["src/auth/session.ts", "test/auth/**"]). Absolute paths only inside the root the repository declares.',
  );
export const dependsOn = z
  .array(z.string())
  .optional()
  .describe('Files you read and rely on but do not modify (their changes would break your work). Same format as paths.');
export const modules = z
  .array(z.string())
  .optional()
  .describe('Modules the work belongs to, e.g. ["src/auth"]. The folders of your paths count as modules too.');
export const claimId = z.string().describe('The claim id from mux_claim_announce.');
export const threadId = z.string().describe('The thread id (from mux_claim_announce, mux_thread_open or mux_thread_list).');
/** A page size: at most this many entries. */
export const limit = (fallback: number, what?: string): z.ZodOptional<z.ZodNumber> =>
  z
    .number()
    .int()
    .min(1)
    .optional()
    .describe(`At most this many${what === undefined ? '' : ` ${what}`} (default ${fallback}).`);
