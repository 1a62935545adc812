import type { ActingAsDeclaration } from '../builtins/builtin-backend.js';
import { GatewayError } from '../errors.js';
import type { Identity } from './tokens.js';

/**
 * With auth on, an agent token acts only as itself on a backend that
 * declares identity fields (coord: src/builtins/coord.ts): every identity
 * field it sends must be its token's name, so one agent cannot read
 * another's inbox, post as another or complete another's task. An admin
 * token may act as anyone (operators, dispatchers).
 */
export function checkActingAs(identity: Identity, fields: Readonly<Record<string, unknown>>, what: string, identityFields: readonly string[]): void {
  if (identity.role === 'admin') return;
  for (const field of identityFields) {
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
 * The whole declaration for one tool call or route (`key`): the identity
 * fields, then, for a tool or route answered only for the agent it names
 * (coord's history, thread list), that an agent token names itself — the
 * store then answers only what that agent may see.
 */
export function checkDeclaredIdentity(
  identity: Identity,
  fields: Readonly<Record<string, unknown>>,
  what: string,
  declaration: ActingAsDeclaration,
  key: string,
): void {
  checkActingAs(identity, fields, what, declaration.fields);
  const refusal = declaration.selfOnly[key];
  if (refusal === undefined || identity.role === 'admin') return;
  const self = fields[declaration.selfField];
  if (self !== undefined && self !== null) return;
  throw new GatewayError('FORBIDDEN', refusal(identity.name, what));
}

/**
 * The fields of a call with the identity field its declaration fills
 * (`fill[key]`) set to an agent token's name when the call leaves it out,
 * so what the agent writes records who wrote it, as it would had it named
 * itself; undefined when nothing is filled. An admin token acts for
 * whoever it names, so it fills nothing.
 */
export function withFilledIdentity(
  identity: Identity,
  fields: Readonly<Record<string, unknown>>,
  declaration: ActingAsDeclaration,
  key: string,
): Record<string, unknown> | undefined {
  const field = declaration.fill?.[key];
  if (field === undefined || identity.role === 'admin') return undefined;
  if (fields[field] !== undefined && fields[field] !== null) return undefined;
  return { ...fields, [field]: identity.name };
}
