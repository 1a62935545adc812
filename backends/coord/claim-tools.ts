import { prepareCoChange } from './co-change.js';
import { type CoordOperation, operation } from './operation.js';
import type { CoordOptions } from './options.js';
import {
  AnnounceClaimInputSchema,
  CheckClaimsInputSchema,
  ClaimListQuerySchema,
  ClaimStatusQuerySchema,
  ReleaseClaimInputSchema,
  RenewClaimInputSchema,
} from './schemas/claim.js';

const local = { openWorldHint: false } as const;

/** The schema with the server's claim_ttl_default in the description of ttl_seconds (the schema itself cannot know it). */
function withTtlDefault<S extends typeof AnnounceClaimInputSchema | typeof RenewClaimInputSchema>(schema: S, seconds: number): S {
  const ttl = schema.shape.ttl_seconds;
  return schema.extend({ ttl_seconds: ttl.describe(`${ttl.description ?? ''} Default ${seconds}.`) }) as S;
}

const scoring =
  'Conflicts name agent, paths, intent, score (100 same file or their file edited in the last 60 s, 80 one modifies what the other depends on, 40-60 changed together in git history, 30 same module) and breakdown (every layer that matched). ' +
  'verdict: "clear" (<30) go; "caution" (30-89) read their intent; "conflict" (90+) consult first. ' +
  'Claims of agents silent past the stale threshold are listed in stale_conflicts and count for nothing.';

/** The operations mux_claim_announce, mux_claim_check, mux_claim_renew, mux_claim_release, mux_claim_list and mux_status. */
export function claimTools(options: CoordOptions): CoordOperation[] {
  return [
    operation({
      name: 'mux_claim_announce',
      route: 'POST /claim/announce',
      title: 'Announce work on files (claim)',
      description:
        'Call BEFORE editing files: others see what you will touch. ' +
        `Claims the paths for ttl_seconds (at most ${options.claim_ttl_max}); returns {claim, verdict, score, conflicts, thread, repeated}. ${scoring} ` +
        '90+ opens a consultation thread (returned; answer with mux_thread_post). Advisory unless exclusive: true (see exclusive). ' +
        'Announcing the same work again returns the same claim (repeated: true). Renew long work with mux_claim_renew; release with mux_claim_release when done.',
      input: withTtlDefault(AnnounceClaimInputSchema, options.claim_ttl_default),
      annotations: local,
      run: async (args, { store }) => {
        await prepareCoChange(options, args.repo); // git runs here, never inside the store's transaction
        return store.announceClaim(args);
      },
    }),
    operation({
      name: 'mux_claim_check',
      route: 'POST /claim/check',
      title: 'Check who holds files',
      description:
        'Who holds or would conflict with these paths, claiming nothing; use it to choose work. ' +
        `Returns {verdict, score, conflicts}. ${scoring} Pass agent_id to leave out your own claims.`,
      input: CheckClaimsInputSchema,
      annotations: { readOnlyHint: true, ...local },
      run: async (args, { store }) => {
        await prepareCoChange(options, args.repo);
        return store.checkClaims(args);
      },
    }),
    operation({
      name: 'mux_claim_renew',
      route: 'POST /claim/renew',
      title: 'Renew a claim',
      description:
        'Extend your claim before it expires when the work takes longer: it then holds ttl_seconds from now. Only the holder can renew; an expired or released claim cannot be renewed (announce again). Returns the claim.',
      input: withTtlDefault(RenewClaimInputSchema, options.claim_ttl_default),
      annotations: local,
      run: (args, { store }) => store.renewClaim(args),
    }),
    operation({
      name: 'mux_claim_release',
      route: 'POST /claim/release',
      title: 'Release a claim',
      description:
        'Release your claim when the work is done or abandoned, so others can take the files. Releasing a claim that already ended is harmless. ' +
        'Releasing another agent\'s claim is refused (FORBIDDEN) unless you are a claim admin. Returns the claim (status "released").',
      input: ReleaseClaimInputSchema,
      annotations: { idempotentHint: true, ...local },
      run: (args, { store }) => store.releaseClaim(args),
    }),
    operation({
      name: 'mux_claim_list',
      route: 'GET /claim/list',
      title: 'List live claims',
      description: 'Every live claim of a channel (optionally one repo or one agent): who works on which paths, why, and until when. Returns {claims}.',
      input: ClaimListQuerySchema,
      annotations: { readOnlyHint: true, ...local },
      run: async (args, { store }) => ({ claims: await store.listClaims(args) }),
    }),
    operation({
      name: 'mux_status',
      route: 'GET /status',
      title: 'Coordination status',
      description:
        'A snapshot of who works where: live claims, hot paths (claimed by more than one agent) and consultation threads that have not ended, for a channel (and optionally one repo). ' +
        'Use it as a heartbeat view before starting work. Returns {channel, repo, claims, hot_paths: [{repo, path, agents}], threads, agents: [{id, state, waiting_for, current_file, current_thread}]}.',
      input: ClaimStatusQuerySchema,
      annotations: { readOnlyHint: true, ...local },
      run: async (args, { store }) => {
        const status = await store.claimStatus(args);
        // The active agents of the channel with what they said they do (agent-state.ts), beside the claims.
        const agents = (await store.discoverAgents({ channel: status.channel })).map(({ id, state, waiting_for, current_file, current_thread }) => ({
          id,
          state,
          waiting_for,
          current_file,
          current_thread,
        }));
        return { ...status, agents };
      },
    }),
  ];
}
