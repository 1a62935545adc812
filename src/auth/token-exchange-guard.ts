import { scrub, secretsOf } from '../config/redact.js';
import type { BackendConfig } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { SessionRef } from '../pool/affinity-pool.js';
import type { CallMiddleware } from '../router/router.js';
import { exchangerFor } from '../supervisor/backend-token-exchange.js';
import type { SubjectTokens } from './subject-tokens.js';

/** The prefix of every OAuth identity's name (auth/oauth.ts oauthName); no static token name has a `:`. */
const OAUTH_NAME = 'oauth:';

/**
 * [oauth-out] The router middleware of backends with oauth.grant =
 * "token_exchange" (supervisor/backend-token-exchange.ts). A caller with an
 * OAuth token it holds (auth/subject-tokens.ts) has it exchanged here, before
 * any connection is taken (a refused exchange is that caller's
 * BACKEND_AUTH_REQUIRED, never the backend's state), and its call runs on
 * connections made for it alone (SessionRef.identity). A caller without one
 * (a static token, no token, an OAuth caller whose token expired or was
 * forgotten by a restart) gets BACKEND_AUTH_REQUIRED; with `fallback`, a
 * caller that is no OAuth identity goes through as the gateway (its shared
 * connections, client_credentials). Other backends pass untouched.
 */
export function tokenExchangeGuard(configOf: (server: string) => BackendConfig | undefined, subjects: SubjectTokens): CallMiddleware {
  return async (request, next) => {
    const config = configOf(request.server);
    const oauth = config?.oauth;
    if (config === undefined || oauth?.grant !== 'token_exchange') return next(request);
    const name = request.caller;
    const subject = subjects.get(name);
    if (name === undefined || subject === undefined) {
      // An OAuth identity never falls back to the gateway's own token: it would act with the gateway's rights, not its own.
      if (oauth.fallback !== undefined && name?.startsWith(OAUTH_NAME) !== true) return next(request);
      const who =
        name === undefined
          ? 'this call has no token'
          : name.startsWith(OAUTH_NAME)
            ? `the OAuth token of '${name}' has expired or is not held (a restart forgets them)`
            : `'${name}' is a static token`;
      throw new GatewayError(
        'BACKEND_AUTH_REQUIRED',
        `Backend '${config.name}' is reached with each caller's own OAuth token (token exchange) and ${who}; call with an OAuth access token of [auth.oauth]${oauth.fallback === undefined ? ', or give the backend\'s oauth a fallback = "client_credentials"' : ''}`,
      );
    }
    const exchanger = exchangerFor(config.name, config.url ?? '', oauth);
    try {
      // The held token when fresh (the common case, no await); else the exchange, before any connection is taken.
      if (exchanger.fresh(name, subject) === undefined) await exchanger.renew(name);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new GatewayError('BACKEND_AUTH_REQUIRED', scrub(`Backend '${config.name}' could not be reached as '${name}': ${why}`, secretsOf(config)));
    }
    return next({ ...request, session: identityRef(name) });
  };
}

/** The connections of one identity toward token_exchange backends (a pool per identity and backend, within max_session_connections). */
function identityRef(name: string): SessionRef {
  return { id: `exchange:${name}`, identity: name, ended: false };
}
