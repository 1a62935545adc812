import type { Client } from '@modelcontextprotocol/client';
import { ProtocolErrorCode } from '@modelcontextprotocol/client';
import type { BackendConfig } from '../config/schema.js';
import { rpcFailure } from '../errors.js';
import type { Logger } from '../log.js';
import { eraClientOptions, listenForChanges } from '../pool/backend-era.js';
import { BACKEND_CLIENT_CAPABILITIES, refusal } from '../pool/client-requests.js';
import { connectionOf } from '../pool/connection.js';
import type { ConnectHooks } from '../supervisor/connect.js';
import type { Sessions } from './sessions.js';

/**
 * What a backend connection does with what the backend sends unasked.
 * Sampling and elicitation requests and log messages go to the agent whose
 * call is the only one in flight on that connection, or on a session's own
 * connection (affinity = "session") to that session (see
 * Connection.soleDownstream); when that cannot be known they are refused
 * and logged, never guessed; so are requests the agent did not declare it
 * can take. Resource and prompt notifications go to the
 * sessions that see the backend.
 */
export function backendHooks(sessions: Sessions, logger: Logger, relistTools?: (backend: string) => void): (config: BackendConfig) => ConnectHooks {
  return (config) => {
    const log = logger.child({ backend: config.name });
    const forward = async (client: Client, method: string, params: Record<string, unknown> | undefined): Promise<Record<string, unknown>> => {
      const connection = connectionOf(client);
      const downstream = connection?.soleDownstream();
      if (downstream === undefined && connection?.inflight === 1 && connection.downstreams.size === 0) {
        // The one call in flight has no agent behind it (REST, async).
        throw rpcFailure(
          ProtocolErrorCode.MethodNotFound,
          `stonegate refused ${method}: the call was made without an MCP session (REST POST /call or an async call), so there is no agent to ask`,
        );
      }
      if (downstream === undefined) {
        log.warn({ method }, 'backend request not forwarded: it cannot be attributed to one agent (set affinity = "session" for this backend)');
        throw rpcFailure(
          ProtocolErrorCode.InvalidRequest,
          `stonegate cannot tell which agent ${method} is for: no single call is in flight on this connection`,
        );
      }
      // An agent that cannot answer is not asked: the backend hears so at
      // once and the call goes on (no wait for a timeout that would count
      // against the backend's circuit).
      const refused = refusal(method, params, downstream.capabilities(), downstream.modern === true);
      if (refused !== undefined) {
        log.debug({ method }, 'backend request refused: the calling agent cannot take it (capability not declared, or a 2026-07-28 agent)');
        throw rpcFailure(refused.code, refused.message);
      }
      // A task-augmented request is answered directly (see BACKEND_CLIENT_CAPABILITIES).
      const { task: _task, ...plain } = params ?? {};
      return downstream.request(method, params === undefined ? undefined : plain);
    };
    return {
      // [mcp-bridge] The backend's `protocol` key picks the era its connections negotiate (pool/backend-era.ts).
      clientOptions: { capabilities: BACKEND_CLIENT_CAPABILITIES, ...eraClientOptions(config) },
      connected: (client) =>
        listenForChanges(
          client,
          (error) => log.warn({ error: error.message }, 'backend refused subscriptions/listen: its list changes will not be seen'),
          // [mcp-ext] Listening again after the backend ended the stream: what changed meanwhile was not heard.
          (filter) => {
            log.info('listening to the backend again for list changes');
            if (filter.toolsListChanged === true) relistTools?.(config.name);
            if (filter.promptsListChanged === true) sessions.listChanged(config.name, 'prompts');
            if (filter.resourcesListChanged === true) sessions.listChanged(config.name, 'resources');
          },
        ),
      setup: (client) => {
        // The fallback handler, not setRequestHandler: the Client's registration
        // would validate the agent's answer (and hold a task-augmented request
        // to a CreateTaskResult); the agent's answer is passed through as is.
        client.fallbackRequestHandler = async (request) => {
          if (request.method === 'sampling/createMessage' || request.method === 'elicitation/create') return forward(client, request.method, request.params);
          throw rpcFailure(ProtocolErrorCode.MethodNotFound, 'Method not found');
        };
        // Roots are the backend's own config, never an agent's: on a shared
        // connection one agent's roots would change what every agent reaches.
        client.setRequestHandler('roots/list', async () => ({
          roots: config.roots.map((uri) => ({ uri, name: uri.slice(uri.lastIndexOf('/') + 1) || uri })),
        }));
        client.setNotificationHandler('notifications/message', async (notification) => {
          const downstream = connectionOf(client)?.soleDownstream();
          if (downstream !== undefined) await downstream.notify(notification.method, notification.params).catch(() => undefined);
          else log.debug({ level: notification.params.level, data: notification.params.data }, 'backend log message (no single caller to forward it to)');
        });
        client.setNotificationHandler('notifications/resources/updated', async (n) => sessions.resourceUpdated(config.name, n.params.uri));
        client.setNotificationHandler('notifications/resources/list_changed', async () => sessions.listChanged(config.name, 'resources'));
        client.setNotificationHandler('notifications/prompts/list_changed', async () => sessions.listChanged(config.name, 'prompts'));
      },
    };
  };
}
