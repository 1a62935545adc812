import type { Tool } from '@modelcontextprotocol/server';
import { GATE_TOOLS } from './gate-tools.js';
import type { SessionServerSources } from './session-server.js';
import type { View } from './view.js';

/** Code-unit order of tool names: the same on every gateway and every call, whatever order backends list in. */
const byName = (a: Tool, b: Tool): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * The tools a view lists, in a fixed order: proxied tools under their
 * exposed (or, per server, original) names sorted by that name, then the
 * gate tools in their own fixed order.
 */
export function listTools(gateway: SessionServerSources, view: View): Tool[] {
  if (view.single !== undefined) {
    return gateway.catalog
      .tools(view.servers)
      .map((t) => ({ ...t.definition, execution: withTasks(t.definition) }))
      .sort(byName);
  }
  const tools: Tool[] = [];
  const named = view.named;
  if (view.expose === 'all' && named !== undefined) {
    // [[views]] Only the tools the view shows, under its names and descriptions.
    for (const t of gateway.catalog.tools(view.servers)) {
      if (named.shows(t)) tools.push({ ...t.definition, name: named.nameOf(t), description: named.descriptionOf(t), execution: withTasks(t.definition) });
    }
    tools.sort(byName);
  } else if (view.expose === 'all') {
    for (const t of gateway.catalog.tools(view.servers)) tools.push({ ...t.definition, name: t.exposed, execution: withTasks(t.definition) });
    tools.sort(byName);
  }
  tools.push(...GATE_TOOLS);
  return tools;
}

/**
 * Every proxied tool may run as a task: the dispatch table runs any tool
 * as an async call, whatever the backend says. A backend's `forbidden` is
 * not passed through (the SDK server puts it on every plain tool); its
 * `required` is, as the tool cannot run without a task.
 */
function withTasks(tool: Tool): Tool['execution'] {
  return { ...tool.execution, taskSupport: tool.execution?.taskSupport === 'required' ? 'required' : 'optional' };
}
