import { GatewayError } from '../errors.js';
import type { BackendState } from './backend.js';

/** Why a backend that does not serve refuses a call, and what to do about it. */
export function unavailable(name: string, state: BackendState, lastError: Error | undefined): GatewayError {
  switch (state) {
    case 'stopped':
      // An operator's doing, not the backend's failure: the breaker does not count it.
      return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${name}' is stopped; start it with POST /server/start`, {
        details: { state: 'stopped' },
      });
    case 'needs_auth': // [oauth-out] the flow's error: BACKEND_AUTH_REQUIRED
      return lastError instanceof GatewayError ? lastError : new GatewayError('BACKEND_AUTH_REQUIRED', `Backend '${name}' needs auth`);
    case 'failed':
      return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${name}' has failed: ${lastError?.message ?? 'unknown error'}; fix it and POST /server/restart`);
    default:
      return new GatewayError('BACKEND_UNAVAILABLE', `Backend '${name}' is ${state}; retry in a moment`, { retryAfter: 1 });
  }
}
