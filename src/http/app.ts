import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { GatewayError, toGatewayError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { mcpRoutes } from './mcp-endpoint.js';
import { restRoutes } from './rest.js';

/**
 * The front door: one Hono app. Errors are translated here and nowhere
 * else — a GatewayError becomes `{error, code}` with its status (and
 * Retry-After when it has one); anything else is a bug, logged, and
 * answered as INTERNAL without internals.
 */
export function createApp(gateway: Gateway): Hono {
  const app = new Hono();
  const log = gateway.logger;

  app.use(
    '*',
    bodyLimit({
      maxSize: gateway.config.gateway.max_body_bytes,
      onError: () => {
        throw new GatewayError('PAYLOAD_TOO_LARGE', `Request body is over the ${gateway.config.gateway.max_body_bytes}-byte limit ([gateway] max_body_bytes)`);
      },
    }),
  );

  app.route('/', restRoutes(gateway));
  app.route('/', mcpRoutes(gateway));

  app.notFound((c) => {
    const error = new GatewayError('UNKNOWN_ROUTE', `No route for ${c.req.method} ${new URL(c.req.url).pathname}; see the README's REST reference`);
    return c.json(error.toJSON(), 404);
  });

  app.onError((err, c) => {
    const error = toGatewayError(err);
    if (error.code === 'INTERNAL') log.error({ err, path: c.req.path }, 'unhandled error in request');
    if (error.retryAfter !== undefined) c.header('Retry-After', String(error.retryAfter));
    return c.json(error.toJSON(), error.status as 400);
  });

  return app;
}
