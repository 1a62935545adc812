import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { fields, type ToolContext } from './agent-tools.js';
import { runTool } from './tool-result.js';

const local = { openWorldHint: false } as const;

/** Input fields of the claim and thread tools, with descriptions written for models. */
export const claimFields = {
  repo: z
    .string()
    .optional()
    .describe('Id of the repository the paths are in (e.g. "stonegate" or a remote URL). Default "default". Equal paths in different repos never conflict; use the same id as the agents you work with.'),
  paths: z
    .array(z.string())
    .describe('Files you will modify, relative to the repository root, with forward slashes. Globs allowed: * and ? within a folder, ** for any depth, a trailing / for a whole folder (e.g. ["src/auth/session.ts", "test/auth/**"]).'),
  depends_on: z.array(z.string()).optional().describe('Files you read and rely on but do not modify (their changes would break your work). Same format as paths.'),
  modules: z.array(z.string()).optional().describe('Modules the work belongs to, e.g. ["src/auth"]. The folders of your paths count as modules too.'),
  claimId: z.string().describe('The claim id from mux_claim_announce.'),
  threadId: z.string().describe('The thread id (from mux_claim_announce, mux_thread_open or mux_thread_list).'),
};

const scoring =
  'Each conflict names the other agent, its paths and intent, a score and the reason: 100 same file, 80 a file one of you modifies that the other depends on, 30 same module. ' +
  'verdict: "clear" (below 30) proceed; "caution" (30-89) read their intent and proceed carefully; "conflict" (90+) consult before editing.';

/** Registers mux_claim_announce, mux_claim_check, mux_claim_renew, mux_claim_release, mux_claim_list and mux_status. */
export function registerClaimTools(server: McpServer, { store, options, logger }: ToolContext): void {
  server.registerTool(
    'mux_claim_announce',
    {
      title: 'Announce work on files (claim)',
      description:
        'Call this BEFORE editing files, so agents working in the same repository see your intention before you collide. ' +
        `Records a claim for ttl_seconds (default ${options.claim_ttl_default}, at most ${options.claim_ttl_max}) and returns {claim, verdict, score, conflicts, thread}. ${scoring} ` +
        'A conflict of 90+ opens a consultation thread with the other agents (thread is returned): discuss there with mux_thread_post. ' +
        'Claims are advisory: you get the claim with its conflicts listed. With exclusive: true the claim is refused (CONFLICT, naming the holder) instead when another agent holds the same files; an exclusive claim also refuses others. ' +
        'Renew long work with mux_claim_renew; release with mux_claim_release when done.',
      inputSchema: {
        agent_id: fields.agentId,
        paths: claimFields.paths,
        intent: z.string().describe('What you are about to do, in one or two sentences; others read it when they conflict with you.'),
        depends_on: claimFields.depends_on,
        modules: claimFields.modules,
        ttl_seconds: z.number().positive().optional().describe(`How long the claim holds, in seconds. Default ${options.claim_ttl_default}.`),
        exclusive: z.boolean().optional().describe('Refuse instead of granting when another agent holds the same files. Default false.'),
        channel: fields.channel,
        repo: claimFields.repo,
      },
      annotations: local,
    },
    (args) => runTool('mux_claim_announce', logger, () => store.announceClaim(args)),
  );

  server.registerTool(
    'mux_claim_check',
    {
      title: 'Check who holds files',
      description:
        'Read-only: who holds, or would conflict with, these paths, without claiming anything. Use it before deciding what to work on. ' +
        `Returns {verdict, score, conflicts}. ${scoring} Pass agent_id to leave out your own claims.`,
      inputSchema: {
        paths: claimFields.paths,
        depends_on: claimFields.depends_on,
        modules: claimFields.modules,
        agent_id: fields.agentId.optional(),
        channel: fields.channel,
        repo: claimFields.repo,
      },
      annotations: { readOnlyHint: true, ...local },
    },
    (args) => runTool('mux_claim_check', logger, () => store.checkClaims(args)),
  );

  server.registerTool(
    'mux_claim_renew',
    {
      title: 'Renew a claim',
      description:
        'Extend your claim before it expires when the work takes longer: it then holds ttl_seconds from now. Only the holder can renew; an expired or released claim cannot be renewed (announce again). Returns the claim.',
      inputSchema: { claim_id: claimFields.claimId, agent_id: fields.agentId, ttl_seconds: z.number().positive().optional().describe(`Seconds from now. Default ${options.claim_ttl_default}.`) },
      annotations: local,
    },
    (args) => runTool('mux_claim_renew', logger, () => store.renewClaim(args)),
  );

  server.registerTool(
    'mux_claim_release',
    {
      title: 'Release a claim',
      description:
        'Release your claim when the work is done or abandoned, so others can take the files. Releasing a claim that already ended is harmless. ' +
        "Releasing another agent's claim is refused (FORBIDDEN) unless you are a claim admin. Returns the claim (status \"released\").",
      inputSchema: { claim_id: claimFields.claimId, agent_id: fields.agentId },
      annotations: { idempotentHint: true, ...local },
    },
    (args) => runTool('mux_claim_release', logger, () => store.releaseClaim(args)),
  );

  server.registerTool(
    'mux_claim_list',
    {
      title: 'List live claims',
      description: 'Every live claim of a channel (optionally one repo or one agent): who works on which paths, why, and until when. Returns {claims}.',
      inputSchema: { channel: fields.channel, repo: claimFields.repo, agent_id: z.string().optional().describe('Only claims of this agent.') },
      annotations: { readOnlyHint: true, ...local },
    },
    (args) => runTool('mux_claim_list', logger, async () => ({ claims: await store.listClaims(args) })),
  );

  server.registerTool(
    'mux_status',
    {
      title: 'Coordination status',
      description:
        'A snapshot of who works where: live claims, hot paths (claimed by more than one agent) and consultation threads that have not ended, for a channel (and optionally one repo). ' +
        'Use it as a heartbeat view before starting work. Returns {channel, repo, claims, hot_paths: [{repo, path, agents}], threads}.',
      inputSchema: {
        channel: fields.channel,
        repo: claimFields.repo,
        agent_id: z.string().optional().describe('You: threads only those you take part in (every thread for a claim admin). Required with an agent token on the gateway.'),
      },
      annotations: { readOnlyHint: true, ...local },
    },
    (args) => runTool('mux_status', logger, () => store.claimStatus(args)),
  );
}
