import { describe } from 'vitest';
import type { MakeStore } from '../helpers/coord-store.js';
import { agentStateContract, broadcastPriorityContract } from './contract-agent-states.js';
import { agentContract } from './contract-agents.js';
import { boardContract } from './contract-board.js';
import { claimContract } from './contract-claims.js';
import { conflictThreadContract } from './contract-conflict-threads.js';
import { identityContract } from './contract-identity.js';
import { lifecycleContract } from './contract-lifecycle.js';
import { messageContract } from './contract-messages.js';
import { refusalContract } from './contract-refusals.js';
import { retentionContract } from './contract-retention.js';
import { stateContract } from './contract-state.js';
import { taskContract } from './contract-tasks.js';
import { threadContract } from './contract-threads.js';

export type { MakeStore } from '../helpers/coord-store.js';

/**
 * The behaviour every CoordStore must have, written against the interface
 * only. A store implementation runs it with a factory that opens a fresh,
 * empty store per call:
 *
 *   storeContract('sqlite', (options, runtime) => Promise.resolve(openSqliteStore(':memory:', options, runtime)));
 *
 * A PostgreSQL store runs the same suite against a fresh schema.
 */
export function storeContract(name: string, makeStore: MakeStore): void {
  describe(`CoordStore contract: ${name}`, () => {
    agentContract(makeStore);
    agentStateContract(makeStore);
    broadcastPriorityContract(makeStore);
    messageContract(makeStore);
    taskContract(makeStore);
    stateContract(makeStore);
    claimContract(makeStore);
    threadContract(makeStore);
    lifecycleContract(makeStore);
    conflictThreadContract(makeStore);
    identityContract(makeStore);
    retentionContract(makeStore);
    refusalContract(makeStore);
    boardContract(makeStore); // issue #29: the dashboard's read
  });
}
