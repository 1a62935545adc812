import type { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';

const PROGRESS_INTERVAL_MS = 100;

/**
 * Waits `ms` milliseconds unless `signal` aborts first. Resolves true when the
 * full time elapsed, false when cancelled; calls `onTick` every interval.
 */
function waitCancellable(ms: number, signal: AbortSignal, onTick: (() => void) | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const ticker = onTick ? setInterval(onTick, PROGRESS_INTERVAL_MS) : undefined;
    const finish = (completed: boolean): void => {
      clearTimeout(timer);
      clearInterval(ticker);
      signal.removeEventListener('abort', onAbort);
      resolve(completed);
    };
    const onAbort = (): void => finish(false);
    const timer = setTimeout(() => finish(true), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Registers `sleep`, the demo's long-running call: it reports progress and honours cancellation. */
export function registerSleepTool(server: McpServer): void {
  server.registerTool(
    'sleep',
    {
      title: 'Sleep',
      description:
        'Waits the given number of milliseconds, then returns "slept N ms". Reports progress about every 100 ms when the caller asks for it, and stops early if the call is cancelled.',
      inputSchema: z.object({
        ms: z.number().int().min(0).max(600_000).describe('How long to wait, 0 to 600000 ms.'),
      }),
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    async ({ ms }, ctx) => {
      const started = Date.now();
      const progressToken = ctx.mcpReq._meta?.progressToken;
      // Progress is only sent when the caller supplied a token: the spec
      // forbids unsolicited progress notifications.
      const onTick =
        progressToken === undefined
          ? undefined
          : (): void => {
              const progress = Math.min(Date.now() - started, ms);
              ctx.mcpReq
                .notify({ method: 'notifications/progress', params: { progressToken, progress, total: ms } })
                .catch((error: unknown) => process.stderr.write(`demo: progress notification failed: ${String(error)}\n`));
            };

      const completed = await waitCancellable(ms, ctx.mcpReq.signal, onTick);
      if (!completed) {
        // The SDK aborts extra.signal on notifications/cancelled (and when the
        // connection closes) and drops whatever we return, so this stderr line
        // is the only way a test can see that cancellation reached the backend.
        process.stderr.write('demo: sleep cancelled\n');
        return { content: [{ type: 'text', text: `sleep cancelled after ${Date.now() - started} ms` }], isError: true };
      }
      return { content: [{ type: 'text', text: `slept ${ms} ms` }] };
    },
  );
}
