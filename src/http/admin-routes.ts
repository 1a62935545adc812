import type { Context } from 'hono';
import { stream } from 'hono/streaming';
import { z } from 'zod';
import { headerSecrets, redactedConfig, scrubError, urlSecrets } from '../config/redact.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { GatewaySurface } from '../mcp/surface.js';
import type { AuditEntry } from '../store/audit.js';
import type { Backend } from '../supervisor/backend.js';
import { intParam, readBody } from './body.js';
import { assertMayUse, scopeOf } from './security.js';

/** What this module reads and calls of the gateway. */
export type AdminSources = Pick<GatewaySurface, 'callLog' | 'catalog' | 'config' | 'reloader' | 'roster' | 'router' | 'security' | 'serverList' | 'supervisor'>;

/** A route handler. */
type Handler = (c: Context) => Promise<Response> | Response;

const NameBody = z.object({ name: z.string().min(1) });
const ApproveBody = z.object({ name: z.string().min(1), tool: z.string().min(1).optional() });
const STATUSES = ['success', 'error', 'timeout'];

/**
 * The handlers of the admin routes (registered in rest.ts, where the whole
 * route table stays in one place). When auth is on, the security guard lets
 * only admin tokens reach them; an admin token limited to backends manages
 * only those.
 */
export function adminHandlers(
  gateway: AdminSources,
): Record<'start' | 'stop' | 'restart' | 'reset' | 'add' | 'remove' | 'approve' | 'config' | 'log', Handler> {
  const { supervisor } = gateway;

  // Start, stop and restart a configured backend. Stop gives calls in
  // flight drain_timeout, then cuts them (BACKEND_UNAVAILABLE saying so).
  // The outcome is remembered as the backend's `enabled`: a backend stopped
  // here stays stopped after a restart of the gateway, one started starts.
  const lifecycle = async (c: Context, action: (backend: Backend) => Promise<void>, enabled: boolean | undefined): Promise<Response> => {
    const { name } = await readBody(c, NameBody);
    assertMayUse(c, name);
    await supervisor.serialize(name, async () => {
      const backend = supervisor.get(name);
      // Stored first: a gateway killed mid-drain keeps it stopped, and a
      // start that fails is tried again at the gateway's next start.
      if (enabled !== undefined) await gateway.roster.setEnabled(name, enabled);
      await action(backend);
    });
    return c.json({ ok: true, server: gateway.serverList(new Set([name]))[0] });
  };

  // A backend that (re)started serves again: its circuit closes with it,
  // as the CIRCUIT_OPEN message promises. Reset closes it by hand, without
  // touching the processes (the backend was fixed from outside).
  const closeCircuit = (backend: Backend, why: string): void => gateway.router.breaker(backend.name).reset(why);

  return {
    start: (c) =>
      lifecycle(
        c,
        async (b) => {
          const serving = b.state === 'running' || b.state === 'degraded';
          await (b.state === 'needs_auth' ? b.restart() : b.start()); // [oauth-out] needs_auth: its retry timer and pool go, it tries at once
          // A start of a backend that already serves changes nothing, its circuit included.
          if (!serving) closeCircuit(b, 'POST /server/start');
        },
        true,
      ),
    stop: (c) => lifecycle(c, (b) => b.stop(), false),
    restart: (c) =>
      lifecycle(
        c,
        async (b) => {
          await b.restart();
          closeCircuit(b, 'POST /server/restart');
        },
        true,
      ),
    // Reset leaves the stored `enabled` as it is.
    reset: (c) => lifecycle(c, async (b) => closeCircuit(b, 'POST /server/reset'), undefined),

    add: async (c) => {
      const body = await readBody(c, z.record(z.string(), z.unknown()));
      if (typeof body.name === 'string') assertMayUse(c, body.name);
      try {
        const backend = await gateway.roster.add(body);
        return c.json({ ok: true, server: gateway.serverList(new Set([backend.name]))[0] });
      } catch (err) {
        // A backend that failed to start is gone, and its secrets with it: scrub with the ones it was given.
        const error = toGatewayError(err);
        const given = [body.env, body.headers].flatMap((map) => (map !== null && typeof map === 'object' ? Object.values(map) : []));
        if (typeof body.url === 'string') given.push(...urlSecrets(body.url));
        const strings = given.filter((v): v is string => typeof v === 'string');
        const secrets = [...strings, ...strings.flatMap(headerSecrets)].filter((v) => v.length >= 6);
        throw scrubError(error, secrets);
      }
    },

    remove: async (c) => {
      const { name } = await readBody(c, NameBody);
      assertMayUse(c, name);
      await gateway.roster.remove(name);
      return c.json({ ok: true, name });
    },

    approve: async (c) => {
      const { name, tool } = await readBody(c, ApproveBody);
      assertMayUse(c, name);
      supervisor.get(name);
      const approved = await gateway.catalog.approve(name, tool);
      if (tool !== undefined && approved.length === 0) {
        throw new GatewayError('UNKNOWN_TOOL', `Backend '${name}' has no tool '${tool}' on record; GET /server/list shows its tool_changes`);
      }
      return c.json({ ok: true, server: name, approved });
    },

    config: (c) => {
      const scope = scopeOf(c);
      const backends = supervisor.list().filter((b) => scope === undefined || scope.has(b.name));
      // `reload`: the last reload's outcome (gateway/reload.ts), with a refused file's error.
      return c.json({
        ...redactedConfig(
          gateway.config,
          backends.map((b) => b.config),
        ),
        reload: gateway.reloader.status(),
      });
    },

    log: async (c) => {
      const status = c.req.query('status');
      if (status !== undefined && !STATUSES.includes(status)) {
        throw new GatewayError('BAD_REQUEST', `status must be success, error or timeout, got '${status.slice(0, 50)}'`);
      }
      const format = c.req.query('format') ?? (c.req.path === '/log/export' ? 'jsonl' : 'json');
      if (format !== 'json' && format !== 'jsonl') throw new GatewayError('BAD_REQUEST', `format must be json or jsonl, got '${format.slice(0, 50)}'`);
      const filter = { server: c.req.query('server'), status, agent: c.req.query('agent'), since: sinceParam(c), servers: scopeOf(c) };
      const audit = gateway.security.audit;
      if (format === 'jsonl') {
        if (audit === undefined)
          throw new GatewayError('BAD_REQUEST', 'The audit log is off ([audit] enabled = false); GET /log shows the recent calls kept in memory');
        const limit = c.req.query('limit') === undefined ? undefined : intParam(c, 'limit', 1, Number.MAX_SAFE_INTEGER);
        c.header('Content-Type', 'application/x-ndjson; charset=utf-8');
        return stream(c, async (out) => {
          let batch = '';
          for await (const entry of audit.export({ ...filter, limit })) {
            batch += `${JSON.stringify(entry)}\n`;
            if (batch.length >= 65_536) {
              await out.write(batch);
              batch = '';
            }
          }
          if (batch.length > 0) await out.write(batch);
        });
      }
      const limit = intParam(c, 'limit', 50, 10_000);
      // One row past the limit tells whether more match (has_more) without
      // counting the whole audit table; total stays the number returned.
      const rows: AuditEntry[] | ReturnType<typeof gateway.callLog.recent> =
        (await audit?.recent({ ...filter, limit: limit + 1 })) ??
        gateway.callLog
          .recent({
            limit: filter.since === undefined && filter.servers === undefined ? limit + 1 : gateway.config.gateway.call_log_size,
            status,
            server: filter.server,
            agent: filter.agent,
          })
          .filter((r) => (filter.servers === undefined || filter.servers.has(r.server)) && (filter.since === undefined || Date.parse(r.time) >= filter.since))
          .slice(0, limit + 1);
      const calls = rows.slice(0, limit);
      return c.json({ calls, total: calls.length, has_more: rows.length > limit });
    },
  };
}

/** `since`: an ISO 8601 time, or ms since the epoch. */
function sinceParam(c: Context): number | undefined {
  const raw = c.req.query('since');
  if (raw === undefined || raw === '') return undefined;
  const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(ms)) throw new GatewayError('BAD_REQUEST', `since must be an ISO 8601 time or ms since the epoch, got '${raw.slice(0, 50)}'`);
  return ms;
}
