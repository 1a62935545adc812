import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { MAX_STDERR_LINE, STDERR_LOG_PER_SECOND, StderrLines } from '../../src/supervisor/stdio-child.js';

function setup(): { lines: StderrLines; kept: string[]; info: ReturnType<typeof vi.fn>; warn: ReturnType<typeof vi.fn> } {
  const logger = silentLogger();
  const info = vi.fn();
  const warn = vi.fn();
  logger.info = info;
  logger.warn = warn;
  const kept: string[] = [];
  return { lines: new StderrLines(logger, (line) => kept.push(line)), kept, info, warn };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('StderrLines', () => {
  it('splits chunks into lines, joining a line split across chunks and dropping a trailing CR', () => {
    const { lines, kept, info } = setup();
    lines.write(Buffer.from('first\nsec'));
    lines.write(Buffer.from('ond\r\nthird'));
    expect(kept).toEqual(['first', 'second']);
    lines.end();
    expect(kept).toEqual(['first', 'second', 'third']);
    expect(info).toHaveBeenCalledWith({ stream: 'stderr' }, 'second');
  });

  it('keeps at most MAX_STDERR_LINE bytes of a line however long it runs, and says how long it was', () => {
    const { lines, kept } = setup();
    const chunk = Buffer.alloc(64 * 1024, 'z');
    for (let i = 0; i < 64; i += 1) lines.write(chunk); // 4 MB without a newline
    lines.write(Buffer.from('\nnext\n'));
    expect(kept).toHaveLength(2);
    expect(kept[0]).toBe(`${'z'.repeat(MAX_STDERR_LINE)}… (${64 * 64 * 1024} bytes)`);
    expect(kept[1]).toBe('next');
  });

  it('logs at most STDERR_LOG_PER_SECOND lines a second and then one summary, but keeps every line', () => {
    vi.useFakeTimers();
    const { lines, kept, info, warn } = setup();
    const burst = Array.from({ length: STDERR_LOG_PER_SECOND + 30 }, (_, i) => `line ${i}\n`).join('');
    lines.write(Buffer.from(burst));
    expect(kept).toHaveLength(STDERR_LOG_PER_SECOND + 30);
    expect(info).toHaveBeenCalledTimes(STDERR_LOG_PER_SECOND);
    expect(warn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1_000);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith({ stream: 'stderr', skipped_lines: 30 }, `skipped 30 stderr lines (more than ${STDERR_LOG_PER_SECOND} a second)`);
    lines.write(Buffer.from('after\n'));
    expect(info).toHaveBeenLastCalledWith({ stream: 'stderr' }, 'after');
  });

  it('reports skipped lines when the stream ends before the second is over', () => {
    vi.useFakeTimers();
    const { lines, warn } = setup();
    lines.write(Buffer.from('x\n'.repeat(STDERR_LOG_PER_SECOND + 2)));
    lines.end();
    expect(warn).toHaveBeenCalledWith({ stream: 'stderr', skipped_lines: 2 }, expect.stringContaining('skipped 2'));
    vi.advanceTimersByTime(5_000);
    expect(warn).toHaveBeenCalledTimes(1);
  });
});
