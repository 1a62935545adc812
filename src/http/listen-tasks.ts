import { type ServerEvent, SUBSCRIPTION_ID_META_KEY } from '@modelcontextprotocol/server';
import { detailedTask } from '../mcp/task-extension.js';
import type { View } from '../mcp/view.js';
import type { AsyncCall } from '../store/dispatch-store.js';
import type { ListenSources, ViewBus } from './mcp-listen.js';

/*
 * [mcp-ext] Task status on subscriptions/listen (SEP-2663 "status
 * notifications"). The SDK's listen router acknowledges and serves only
 * the four change events it knows, so a listen request that asks for
 * `taskIds` (with the Tasks extension declared: task-extension.ts
 * listenTaskRefusal) is served here instead, with the same wire form:
 *
 * - the acknowledgement first (`notifications/subscriptions/acknowledged`,
 *   the honored filter: the list-change flags and resource URIs asked for,
 *   and of the task ids, those that are the caller's tasks of the dispatch
 *   table — another caller's id is left out, exactly as an unknown one);
 * - then each watched task's status at once (a status that changed between
 *   the caller's tools/call and its listen would otherwise be missed), and
 *   `notifications/tasks` with the task as tasks/get shows it on every
 *   change (working, input_required with its questions, the end with its
 *   result or error); list changes and resource updates as the SDK's
 *   router sends them (the view-scoped bus);
 * - every notification tagged with the subscription id (the request's id);
 *   a keep-alive comment every 15 s; when only tasks were asked for and all
 *   of them have ended, the stream closes with the listen request's result.
 *
 * Statuses come from the calls running in this gateway process; a task
 * running on another gateway of a shared store shows its status on
 * tasks/get.
 */

const KEEP_ALIVE_MS = 15_000;
const TERMINAL = new Set(['complete', 'failed', 'cancelled']);

interface ListenFilter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
  taskIds?: string[];
}

/** The listen body's filter, when it asks for task ids (then it is served here); undefined otherwise. */
export function taskListenFilter(body: unknown): ListenFilter | undefined {
  const notifications = (body as { params?: { notifications?: unknown } } | null)?.params?.notifications;
  if (notifications === null || typeof notifications !== 'object') return undefined;
  const filter = notifications as Record<string, unknown>;
  if (!Array.isArray(filter.taskIds)) return undefined;
  const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
  const honored: ListenFilter = { taskIds: strings(filter.taskIds) };
  for (const flag of ['toolsListChanged', 'promptsListChanged', 'resourcesListChanged'] as const) if (filter[flag] === true) honored[flag] = true;
  const uris = strings(filter.resourceSubscriptions);
  if (uris.length > 0) honored.resourceSubscriptions = uris;
  return honored;
}

function accepts(filter: ListenFilter, event: ServerEvent): boolean {
  switch (event.kind) {
    case 'tools_list_changed':
      return filter.toolsListChanged === true;
    case 'prompts_list_changed':
      return filter.promptsListChanged === true;
    case 'resources_list_changed':
      return filter.resourcesListChanged === true;
    case 'resource_updated':
      return filter.resourceSubscriptions?.includes(event.uri) === true;
  }
}

function notificationOf(event: ServerEvent): { method: string; params: Record<string, unknown> } {
  if (event.kind === 'resource_updated') return { method: 'notifications/resources/updated', params: { ...event.params, uri: event.uri } };
  const what = event.kind.slice(0, event.kind.indexOf('_'));
  return { method: `notifications/${what}/list_changed`, params: { ...event.params } };
}

/** Serves one listen stream that watches tasks (see above). */
export async function serveTaskListen(
  gateway: Pick<ListenSources, 'logger'> & Parameters<typeof detailedTask>[0],
  bus: ViewBus,
  view: View,
  id: string | number,
  requested: ListenFilter,
  signal: AbortSignal,
): Promise<Response> {
  const owner = view.owner ?? null;
  const watched = new Map<string, AsyncCall>();
  for (const taskId of new Set(requested.taskIds)) {
    const call = await gateway.dispatch.get(taskId, owner).catch(() => undefined);
    if (call !== undefined) watched.set(taskId, call);
  }
  const honored: ListenFilter = { ...requested, taskIds: [...watched.keys()] };
  const tasksOnly =
    honored.toolsListChanged !== true &&
    honored.promptsListChanged !== true &&
    honored.resourcesListChanged !== true &&
    honored.resourceSubscriptions === undefined;
  const encoder = new TextEncoder();
  const stops: (() => void)[] = [];
  let close: ((graceful: boolean) => void) | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let closed = false;
      const write = (frame: string): void => {
        if (!closed) controller.enqueue(encoder.encode(frame));
      };
      const notify = (method: string, params: Record<string, unknown>): void => {
        const tagged = { ...params, _meta: { ...(params._meta as Record<string, unknown> | undefined), [SUBSCRIPTION_ID_META_KEY]: id } };
        write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method, params: tagged })}\n\n`);
      };
      close = (graceful) => {
        if (closed) return;
        if (graceful)
          write(
            `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id, result: { resultType: 'complete', _meta: { [SUBSCRIPTION_ID_META_KEY]: id } } })}\n\n`,
          );
        closed = true;
        for (const stop of stops) stop();
        controller.close();
      };
      const status = (call: AsyncCall): void => {
        notify('notifications/tasks', detailedTask(gateway, call) as Record<string, unknown>);
        watched.set(call.id, call);
        if (tasksOnly && [...watched.values()].every((c) => TERMINAL.has(c.state))) close?.(true);
      };
      notify('notifications/subscriptions/acknowledged', { notifications: honored });
      stops.push(
        bus.scope.run(view, () =>
          bus.subscribe((event) => (accepts(honored, event) ? notify(notificationOf(event).method, notificationOf(event).params) : undefined)),
        ),
      );
      stops.push(
        gateway.dispatch.onchange((call) => {
          if (watched.has(call.id)) status(call);
        }),
      );
      const timer = setInterval(() => write(': keepalive\n\n'), KEEP_ALIVE_MS);
      timer.unref();
      stops.push(() => clearInterval(timer));
      for (const call of [...watched.values()]) status(call);
      if (watched.size === 0 && tasksOnly) close(true);
    },
    cancel() {
      close?.(false);
    },
  });
  if (signal.aborted) close?.(false);
  else signal.addEventListener('abort', () => close?.(false), { once: true });
  return new Response(body, {
    status: 200,
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' },
  });
}
