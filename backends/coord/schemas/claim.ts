import { z } from 'zod';
import { agentId, channel, claimId, dependsOn, modules, paths, repo } from './fields.js';

/* Inputs of the work-claim operations: mux_claim_*, mux_status and their /claim/* and /status routes. */

const targetSymbols = z
  .array(z.string())
  .optional()
  .describe(
    'Functions, types or other symbols you will change in those files (e.g. ["createSession"]). Two claims on one file with disjoint symbols say so in the reason.',
  );

/** The tools add the server's claim_ttl_default to this description (claim-tools.ts). */
const ttl = (what: string): z.ZodOptional<z.ZodNumber> => z.number().positive().optional().describe(what);

/** mux_claim_announce, POST /claim/announce. */
export const AnnounceClaimInputSchema = z.strictObject({
  agent_id: agentId,
  paths,
  intent: z.string().describe('What you are about to do, in one or two sentences; others read it when they conflict with you.'),
  depends_on: dependsOn,
  modules,
  target_symbols: targetSymbols,
  ttl_seconds: ttl('How long the claim holds, in seconds.'),
  exclusive: z
    .boolean()
    .optional()
    .describe(
      'Refuse (CONFLICT, naming the holder) instead of granting when another agent holds the same files; an exclusive claim also refuses others. Default false.',
    ),
  channel,
  repo,
});
export type AnnounceClaimInput = z.infer<typeof AnnounceClaimInputSchema>;

/** mux_claim_check, POST /claim/check. */
export const CheckClaimsInputSchema = z.strictObject({
  paths,
  depends_on: dependsOn,
  modules,
  target_symbols: targetSymbols,
  agent_id: agentId.optional(),
  channel,
  repo,
});
export type CheckClaimsInput = z.infer<typeof CheckClaimsInputSchema>;
/** What an agent is about to touch: the fields a claim and a check share. */
export type ClaimTarget = Omit<CheckClaimsInput, 'agent_id'>;

/** mux_claim_renew, POST /claim/renew. */
export const RenewClaimInputSchema = z.strictObject({ claim_id: claimId, agent_id: agentId, ttl_seconds: ttl('Seconds from now.') });
export type RenewClaimInput = z.infer<typeof RenewClaimInputSchema>;

/** mux_claim_release, POST /claim/release; agent_id: the holder, or an agent listed in claim_admins (forced release). */
export const ReleaseClaimInputSchema = z.strictObject({ claim_id: claimId, agent_id: agentId });
export type ReleaseClaimInput = z.infer<typeof ReleaseClaimInputSchema>;

/** mux_claim_list, GET /claim/list. */
export const ClaimListQuerySchema = z.strictObject({ channel, repo, agent_id: z.string().optional().describe('Only claims of this agent.') });
export type ClaimListQuery = z.infer<typeof ClaimListQuerySchema>;

/** mux_status, GET /status. */
export const ClaimStatusQuerySchema = z.strictObject({
  channel,
  repo,
  agent_id: z
    .string()
    .optional()
    .describe('You: threads only those you take part in (every thread for a claim admin). Required with an agent token on the gateway.'),
});
export type ClaimStatusQuery = z.infer<typeof ClaimStatusQuerySchema>;
