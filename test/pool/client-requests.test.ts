import { ProtocolErrorCode } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { BACKEND_CLIENT_CAPABILITIES, refusal } from '../../src/pool/client-requests.js';

const sampling = { messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }], maxTokens: 10 };
const form = { message: 'Name?', requestedSchema: { type: 'object', properties: {} } };
const url = { mode: 'url', message: 'Open it', url: 'https://example.com', elicitationId: 'e1' };

describe('refusal of a backend request the agent cannot answer', () => {
  it('lets through what the agent declared', () => {
    expect(refusal('sampling/createMessage', sampling, { sampling: {} })).toBeUndefined();
    expect(refusal('sampling/createMessage', { ...sampling, tools: [] }, { sampling: { tools: {} } })).toBeUndefined();
    expect(refusal('elicitation/create', form, { elicitation: {} })).toBeUndefined();
    expect(refusal('elicitation/create', form, { elicitation: { form: {} } })).toBeUndefined();
    expect(refusal('elicitation/create', url, { elicitation: { url: {} } })).toBeUndefined();
  });

  it('refuses every request toward a 2026-07-28 caller, whatever it declared (gate_call: only a direct tools/call relays input_required)', () => {
    for (const [method, params] of [
      ['sampling/createMessage', sampling],
      ['elicitation/create', form],
    ] as const) {
      for (const declared of [{}, { sampling: { tools: {} }, elicitation: { form: {}, url: {} } }]) {
        expect(refusal(method, params, declared, true)).toEqual({
          code: ProtocolErrorCode.MethodNotFound,
          message: expect.stringMatching(/speaks MCP 2026-07-28.*input_required.*direct tools\/call.*2025-era MCP session/) as unknown as string,
        });
      }
    }
  });

  it('names a missing capability with "method not found", as the SDK client answers a method it has no handler for', () => {
    expect(refusal('sampling/createMessage', sampling, {})).toEqual({
      code: ProtocolErrorCode.MethodNotFound,
      message: expect.stringContaining("did not declare the 'sampling' client capability") as unknown as string,
    });
    expect(refusal('elicitation/create', form, { sampling: {} })?.message).toContain("'elicitation'");
  });

  it('names a missing mode or sampling.tools with "invalid params", as the SDK client does', () => {
    expect(refusal('elicitation/create', url, { elicitation: { form: {} } })).toMatchObject({ code: ProtocolErrorCode.InvalidParams });
    expect(refusal('elicitation/create', url, { elicitation: {} })?.message).toContain("'elicitation.url'");
    expect(refusal('elicitation/create', form, { elicitation: { url: {} } })?.message).toContain("'elicitation.form'");
    expect(refusal('sampling/createMessage', { ...sampling, tools: [] }, { sampling: {} })?.message).toContain("'sampling.tools'");
  });

  it('refuses everything toward a connection that takes no requests (capabilities unknown)', () => {
    expect(refusal('sampling/createMessage', sampling, undefined)?.message).toContain('no MCP session that can take requests');
  });

  it('declares to backends every capability it can route', () => {
    expect(BACKEND_CLIENT_CAPABILITIES).toMatchObject({
      sampling: { tools: {} },
      elicitation: { form: {}, url: {} },
      roots: {},
      tasks: { requests: { sampling: { createMessage: {} }, elicitation: { create: {} } } },
    });
  });
});
