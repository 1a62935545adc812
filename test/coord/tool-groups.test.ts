import { describe, expect, it } from 'vitest';
import { coordOperations, exposedOperations } from '../../backends/coord/coord-operations.js';
import { coordOptions } from '../../backends/coord/options.js';
import { selectedTools, TOOL_GROUPS, toolEntryProblem } from '../../backends/coord/tool-groups.js';

describe('coordination tool groups ([coordination] tools)', () => {
  it('puts every operation in exactly one group, in tool-list order', () => {
    const names = coordOperations(coordOptions()).map((op) => op.name);
    expect(Object.values(TOOL_GROUPS).flat()).toEqual(names);
  });

  it('selects groups, single tools and all', () => {
    expect([...selectedTools(['messaging', 'mux_register'])]).toEqual(['mux_send', 'mux_broadcast', 'mux_poll', 'mux_history', 'mux_register']);
    expect(selectedTools(['all']).size).toBe(coordOperations(coordOptions()).length);
    expect(exposedOperations(coordOptions({ tools: ['claims'] })).map((op) => op.name)).toEqual(TOOL_GROUPS.claims);
  });

  it('names the nearest group for a typo, and the groups', () => {
    expect(toolEntryProblem('mesaging')).toMatch(
      /^'mesaging' is not a coordination tool group or tool \(did you mean 'messaging'\?\); the groups are all, agents, /,
    );
    expect(toolEntryProblem('mux_sned')).toMatch(/did you mean 'mux_send'/);
    expect(toolEntryProblem('threads')).toBeUndefined();
    expect(() => coordOptions({ tools: [] })).toThrow(/name at least one tool group or tool/);
  });
});
