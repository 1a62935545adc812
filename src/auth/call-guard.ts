import type { ActingAsDeclaration } from '../builtins/builtin-backend.js';
import type { Catalog } from '../catalog/catalog.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { CallListener } from '../router/call-log.js';
import type { CallMiddleware } from '../router/router.js';
import type { AuditLog } from '../store/audit.js';
import { checkDeclaredIdentity, withFilledIdentity } from './acting-as.js';
import type { RateLimiter } from './rate-limit.js';
import { mayUse, type TokenTable } from './tokens.js';

export interface CallGuardOptions {
  tokens: TokenTable;
  limiter: RateLimiter;
  catalog: Catalog;
  /** The audit log, once the data_dir database is open. */
  audit: () => AuditLog | undefined;
  /** Whether arguments are kept in the audit log ([audit] arguments). */
  keepArguments: boolean;
  /** Backends that declare who their calls act as (coord), by name: their calls are checked for the acting agent. */
  identities: ReadonlyMap<string, ActingAsDeclaration>;
  /** Backends that count an agent token's calls as its agent's activity (coord), by name. */
  activities?: ReadonlyMap<string, (agent: string) => Promise<void>>;
}

/** What the guard knows of the call the router is recording. */
interface CallContext {
  argsBytes: number | null;
  arguments: unknown;
}

/**
 * The router middleware of auth: runs before the router's own steps, so a
 * call it refuses never reaches a breaker or a pool and is no backend's
 * failure. It refuses a token's call to a backend outside its list
 * (FORBIDDEN), a tool withheld by pin_tools (FORBIDDEN, naming POST
 * /server/approve), a call acting as another agent where the backend
 * declares identity fields (coord's mux_* tools; FORBIDDEN), and a
 * call over the token's max_concurrent (RATE_LIMITED). Refusals go to the
 * audit log; calls it lets through are audited from the call log with their
 * argument size, which the router's record does not carry (kept beside
 * the request object, which the router hands back with its record — no
 * AsyncLocalStorage, whose promise hooks would tax every call).
 *
 * The caller of a call made for an authenticated request is its token's
 * name (the REST routes and MCP sessions set it), so the token is found by
 * that name; a caller that is no token's name (serve --stdio) is not limited.
 */
export function callGuard(options: CallGuardOptions): { middleware: CallMiddleware; onRecord: CallListener } {
  const contexts = new WeakMap<object, CallContext>();
  const { tokens, limiter, catalog } = options;

  const middleware: CallMiddleware = async (incoming, next) => {
    // The call as it goes on: with an identity field filled for an agent token (withFilledIdentity).
    let request = incoming;
    const audit = options.audit();
    const ctx: CallContext = {
      argsBytes: audit === undefined ? null : Buffer.byteLength(JSON.stringify(request.arguments ?? {})),
      arguments: options.keepArguments ? (request.arguments ?? {}) : undefined,
    };
    const identity = tokens.byName(request.caller);
    let release: () => void;
    try {
      if (identity !== undefined && !mayUse(identity, request.server)) {
        throw new GatewayError(
          'FORBIDDEN',
          `Token '${identity.name}' may not use backend '${request.server}'; it is limited to: ${[...(identity.servers ?? [])].join(', ')}`,
        );
      }
      if (catalog.isHeld(request.server, request.tool)) {
        throw new GatewayError(
          'FORBIDDEN',
          `Tool '${request.tool}' of backend '${request.server}' changed its description or schema since it was approved and is withheld ([gateway] pin_tools); an admin can review it in GET /server/list and approve it with POST /server/approve {"name": "${request.server}", "tool": "${request.tool}"}`,
        );
      }
      const declared = identity === undefined ? undefined : options.identities.get(request.server);
      if (identity !== undefined && declared !== undefined && request.tool.startsWith(declared.toolPrefix)) {
        checkDeclaredIdentity(identity, request.arguments ?? {}, request.tool, declared, request.tool);
        const filled = withFilledIdentity(identity, request.arguments ?? {}, declared, request.tool);
        if (filled !== undefined) request = { ...request, arguments: filled };
      }
      release = identity === undefined ? () => undefined : limiter.enter(identity);
    } catch (err) {
      const error = toGatewayError(err);
      audit?.record({
        time: new Date().toISOString(),
        agent: request.caller ?? null,
        server: request.server,
        tool: request.tool,
        status: 'error',
        code: error.code,
        duration_ms: 0,
        args_bytes: ctx.argsBytes,
        arguments: ctx.arguments,
      });
      throw error;
    }
    try {
      if (audit !== undefined) contexts.set(request, ctx);
      // Any call of an agent token that gets this far is its agent's activity, even one that names no agent.
      const activity = identity?.role === 'agent' ? options.activities?.get(request.server) : undefined;
      if (activity !== undefined && identity !== undefined) await activity(identity.name);
      return await next(request);
    } finally {
      release();
    }
  };

  const onRecord: CallListener = (record, request) => {
    const ctx = request === undefined ? undefined : contexts.get(request);
    options.audit()?.record({ ...record, args_bytes: ctx?.argsBytes ?? null, arguments: ctx?.arguments });
  };

  return { middleware, onRecord };
}
