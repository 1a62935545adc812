import { GatewayError } from '../errors.js';
import type { Identity } from './tokens.js';

/**
 * The fields by which a coordination request says which agent it acts as
 * (mux_* tool arguments and /coord REST bodies and queries).
 */
export const IDENTITY_FIELDS = ['agent_id', 'from', 'posted_by', 'updated_by', 'created_by'] as const;

/**
 * With auth on, an agent token acts only as itself on the coordination
 * backend: every identity field it sends must be its token's name, so one
 * agent cannot read another's inbox, post as another or complete another's
 * task. An admin token may act as anyone (operators, dispatchers).
 */
export function checkActingAs(identity: Identity, fields: Readonly<Record<string, unknown>>, what: string): void {
  if (identity.role === 'admin') return;
  for (const field of IDENTITY_FIELDS) {
    const value = fields[field];
    if (value === undefined || value === null || value === identity.name) continue;
    const shown = typeof value === 'string' ? `'${value.slice(0, 64)}'` : `a ${typeof value}`;
    throw new GatewayError(
      'FORBIDDEN',
      `${what}: '${field}' is ${shown} but this token is '${identity.name}'; an agent token acts only as itself (send ${field} = '${identity.name}', or use an admin token)`,
    );
  }
}
