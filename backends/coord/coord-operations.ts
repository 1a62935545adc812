import { agentTools } from './agent-tools.js';
import { channelTools } from './channel-tools.js';
import { claimTools } from './claim-tools.js';
import { messageTools } from './message-tools.js';
import type { CoordOperation } from './operation.js';
import type { CoordOptions } from './options.js';
import { stateTools } from './state-tools.js';
import { taskTools } from './task-tools.js';
import { threadTools } from './thread-tools.js';
import { selectedTools } from './tool-groups.js';

/** Every coordination operation, in tool-list order; server.ts makes them tools, rest.ts routes. */
export function coordOperations(options: CoordOptions): CoordOperation[] {
  return [
    ...agentTools(options),
    ...messageTools(options),
    ...taskTools(options),
    ...stateTools(options),
    ...channelTools(options),
    ...claimTools(options),
    ...threadTools(options),
  ];
}

/** The operations MCP lists and answers: those [coordination] tools selects (REST routes every operation). */
export function exposedOperations(options: CoordOptions): CoordOperation[] {
  const selected = selectedTools(options.tools);
  return coordOperations(options).filter((op) => selected.has(op.name));
}
