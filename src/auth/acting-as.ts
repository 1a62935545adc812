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

/**
 * With auth on, an agent token reads message history only as itself: it
 * must give agent_id (which checkActingAs holds to its name), so the store
 * answers only what it sent or received and never the direct messages of
 * other agents or broadcasts to groups it is not in.
 */
export function checkHistoryReader(identity: Identity, fields: Readonly<Record<string, unknown>>, what: string): void {
  if (identity.role === 'admin' || (fields.agent_id !== undefined && fields.agent_id !== null)) return;
  throw new GatewayError(
    'FORBIDDEN',
    `${what}: an agent token reads message history only as itself; pass agent_id = '${identity.name}' to see the messages it sent and received, or use an admin token for the whole channel`,
  );
}

/**
 * With auth on, an agent token lists consultation threads (thread list,
 * status) only as itself:
 * it must give agent_id (held to its name by checkActingAs), and the store
 * then answers the threads that agent may read (the ones it takes part in;
 * every thread for a claim admin), as thread/get and the event stream do.
 */
export function checkThreadLister(identity: Identity, fields: Readonly<Record<string, unknown>>, what: string): void {
  if (identity.role === 'admin' || (fields.agent_id !== undefined && fields.agent_id !== null)) return;
  throw new GatewayError(
    'FORBIDDEN',
    `${what}: an agent token sees only the consultation threads it takes part in; pass agent_id = '${identity.name}', or use an admin token for every thread`,
  );
}
