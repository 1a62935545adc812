import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { withProgress } from '../../src/cli/progress.js';

/* Progress lines: counted on a terminal, erased at the end, absent on a pipe and for quick answers. */

function stream(isTTY: boolean): { isTTY: boolean; text: string[]; write: (t: string) => boolean } {
  const text: string[] = [];
  return { isTTY, text, write: (t: string) => text.push(t) > 0 };
}

describe('withProgress', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('counts seconds on a terminal while the work runs, then erases the line', async () => {
    const tty = stream(true);
    let finish: (v: string) => void = () => undefined;
    const shown = withProgress(tty, 'adding x', new Promise<string>((resolve) => (finish = resolve)));
    await vi.advanceTimersByTimeAsync(2_600);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal's erase-line escape
    expect(tty.text.map((t) => t.replace(/\r\u001b\[2K/, ''))).toEqual(['adding x… 0 s', 'adding x… 1 s', 'adding x… 2 s']);
    finish('done');
    await expect(shown).resolves.toBe('done');
    expect(tty.text.at(-1)).toBe('\r\u001b[2K');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(tty.text).toHaveLength(4);
  });

  it('writes nothing for a quick answer, nor on a pipe, and passes failures through', async () => {
    const tty = stream(true);
    await expect(withProgress(tty, 'quick', Promise.resolve(1))).resolves.toBe(1);
    const pipe = stream(false);
    const slow = withProgress(pipe, 'slow', new Promise((_, reject) => setTimeout(() => reject(new Error('refused')), 3_000)));
    const outcome = expect(slow).rejects.toThrow('refused');
    await vi.advanceTimersByTimeAsync(3_000);
    await outcome;
    expect(tty.text).toEqual([]);
    expect(pipe.text).toEqual([]);
  });
});
