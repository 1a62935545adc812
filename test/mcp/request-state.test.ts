import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KEY_FILE, loadKey, open, requestDigest, type StatePayload, seal } from '../../src/mcp/request-state.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'stonegate-state-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const PAYLOAD: StatePayload = { p: 'call-1', r: 1, g: 'proc', c: 'token:alice', d: 'digest', e: 1_900_000_000_000 };

describe('requestState sealing (issue 24)', () => {
  it('makes a 32-byte key file 0600 on first use and reads the same key after', () => {
    const dir = join(tempDir(), 'data');
    const key = loadKey(dir);
    expect(key).toHaveLength(32);
    expect(statSync(join(dir, KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(loadKey(dir).equals(key)).toBe(true);
  });

  it('refuses a key file of the wrong size, naming it', () => {
    const dir = tempDir();
    writeFileSync(join(dir, KEY_FILE), 'short');
    expect(() => loadKey(dir)).toThrow(/request-state\.key is not a 32-byte key/);
  });

  it('opens what it sealed; a changed bit, another key, a truncation or a non-string does not open', () => {
    const key = loadKey(tempDir());
    const state = seal(key, PAYLOAD);
    expect(state.startsWith('sg1.')).toBe(true);
    expect(state).not.toContain('alice');
    expect(open(key, state)).toEqual(PAYLOAD);
    // Two seals of one payload differ (random nonce).
    expect(seal(key, PAYLOAD)).not.toBe(state);
    // (Not the last character: its low bits may be padding that decodes to the same bytes.)
    for (let i = 4; i < state.length - 1; i += 7) {
      const flipped = state.slice(0, i) + (state[i] === 'A' ? 'B' : 'A') + state.slice(i + 1);
      expect(open(key, flipped)).toBeUndefined();
    }
    expect(open(loadKey(tempDir()), state)).toBeUndefined();
    expect(open(key, state.slice(0, -3))).toBeUndefined();
    expect(open(key, 42)).toBeUndefined();
    expect(open(key, `sg0.${state.slice(4)}`)).toBeUndefined();
  });

  it('digests arguments whatever their key order, and tells requests apart', () => {
    const a = requestDigest('tools/call', 'conf', 'echo', { x: 1, y: { b: 2, a: [1, 2] } });
    expect(requestDigest('tools/call', 'conf', 'echo', { y: { a: [1, 2], b: 2 }, x: 1 })).toBe(a);
    expect(requestDigest('tools/call', '', 'echo', { x: 1, y: { b: 2, a: [1, 2] } })).not.toBe(a);
    expect(requestDigest('tools/call', 'conf', 'echo', { x: 2, y: { b: 2, a: [1, 2] } })).not.toBe(a);
    expect(requestDigest('tools/call', 'conf', 'other', { x: 1, y: { b: 2, a: [1, 2] } })).not.toBe(a);
  });
});
