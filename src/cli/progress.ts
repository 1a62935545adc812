/*
 * Progress for CLI commands that wait (a backend starting, a long tool
 * call): on a terminal, a line that counts the seconds and is erased when
 * the wait ends; nothing when the output is a pipe or a file, so scripts
 * see only the answer.
 */

/** Where progress goes: a stream that may be a terminal. */
export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

/** Shows `label… N s` on `stream` while `work` runs (after `delayMs`, so quick answers stay quiet). */
export async function withProgress<T>(stream: ProgressStream, label: string, work: Promise<T>, delayMs = 500): Promise<T> {
  if (stream.isTTY !== true) return work;
  const since = Date.now();
  let shown = false;
  const draw = (): void => {
    shown = true;
    stream.write(`\r\u001b[2K${label}… ${Math.floor((Date.now() - since) / 1000)} s`);
  };
  const start = setTimeout(() => {
    draw();
    timer = setInterval(draw, 1_000);
  }, delayMs);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await work;
  } finally {
    clearTimeout(start);
    clearInterval(timer);
    if (shown) stream.write('\r\u001b[2K');
  }
}
