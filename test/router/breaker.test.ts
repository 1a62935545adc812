import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BreakerSettings } from '../../src/config/schema.js';
import { type ErrorCode, GatewayError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { Breaker, countsAsFailure } from '../../src/router/breaker.js';

const SETTINGS: BreakerSettings = {
  failure_threshold: 3,
  reset_timeout: 30,
  success_threshold: 2,
  error_threshold_percentage: 0,
  volume_threshold: 20,
  rolling_window: 60,
};
const breakers: Breaker[] = [];

function breaker(settings: Partial<BreakerSettings> = {}): Breaker {
  const b = new Breaker('web-search', { ...SETTINGS, ...settings }, silentLogger());
  breakers.push(b);
  return b;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  for (const b of breakers.splice(0)) b.shutdown();
  vi.useRealTimers();
});

const toolError = { content: [{ type: 'text', text: 'no such file' }], isError: true };

async function fail(b: Breaker, code: ErrorCode = 'BACKEND_ERROR'): Promise<unknown> {
  const error = new GatewayError(code, `backend said no (${code})`);
  const thrown = await b
    .fire(() => Promise.reject(error))
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  expect(thrown).toBe(error); // errors pass through unchanged
  return thrown;
}

async function succeed(b: Breaker): Promise<void> {
  await expect(b.fire(() => Promise.resolve('ok'))).resolves.toBe('ok');
}

/** Opens the circuit and waits out reset_timeout, so the next call is the probe. */
async function toHalfOpen(b: Breaker): Promise<void> {
  for (let i = 0; i < SETTINGS.failure_threshold; i += 1) await fail(b);
  expect(b.state).toBe('open');
  vi.advanceTimersByTime(SETTINGS.reset_timeout * 1000);
  expect(b.state).toBe('half_open');
}

async function expectOpenError(b: Breaker): Promise<GatewayError> {
  const fn = vi.fn(() => Promise.resolve('should not run'));
  const err = await b.fire(fn).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(fn).not.toHaveBeenCalled();
  expect(err).toBeInstanceOf(GatewayError);
  expect((err as GatewayError).code).toBe('CIRCUIT_OPEN');
  return err as GatewayError;
}

describe('countsAsFailure', () => {
  it('counts backend faults and foreign errors, not the gateway’s own refusals', () => {
    for (const code of ['BACKEND_ERROR', 'BACKEND_UNAVAILABLE', 'TIMEOUT'] as const) expect(countsAsFailure(new GatewayError(code, 'x'))).toBe(true);
    for (const code of ['POOL_EXHAUSTED', 'INVALID_ARGUMENTS', 'CANCELLED'] as const) expect(countsAsFailure(new GatewayError(code, 'x'))).toBe(false);
    expect(countsAsFailure(new Error('MCP error -32603: Internal error'))).toBe(true);
  });

  it('does not count a JSON-RPC error the backend answered, nor a call an operator cut or a stopped backend refused', () => {
    expect(countsAsFailure(new GatewayError('BACKEND_ERROR', 'x', { details: { backend_code: -32000 } }))).toBe(false);
    expect(countsAsFailure(new GatewayError('BACKEND_ERROR', 'x', { details: { malformed: true } }))).toBe(true);
    for (const cut_by of ['stop', 'remove', 'restart', 'shutdown'])
      expect(countsAsFailure(new GatewayError('BACKEND_UNAVAILABLE', 'x', { details: { cut_by } }))).toBe(false);
    expect(countsAsFailure(new GatewayError('BACKEND_UNAVAILABLE', 'x', { details: { state: 'stopped' } }))).toBe(false);
    expect(countsAsFailure(new GatewayError('BACKEND_UNAVAILABLE', 'x', { details: { crashed: true } }))).toBe(true);
  });
});

describe('Breaker while closed', () => {
  it('opens after failure_threshold consecutive failures of any counted kind', async () => {
    const b = breaker();
    await fail(b, 'BACKEND_ERROR');
    await fail(b, 'BACKEND_UNAVAILABLE');
    expect(b.state).toBe('closed');
    await fail(b, 'TIMEOUT');
    expect(b.state).toBe('open');
  });

  it('starts counting again after a success', async () => {
    const b = breaker();
    await fail(b);
    await fail(b);
    await succeed(b);
    await fail(b);
    await fail(b);
    expect(b.state).toBe('closed');
    await fail(b);
    expect(b.state).toBe('open');
  });

  it('treats a tool result with isError as a success', async () => {
    const b = breaker();
    await fail(b);
    await fail(b);
    await expect(b.fire(() => Promise.resolve(toolError))).resolves.toBe(toolError);
    await fail(b);
    await fail(b);
    expect(b.state).toBe('closed');
  });

  it('neither counts nor resets on POOL_EXHAUSTED, INVALID_ARGUMENTS and CANCELLED', async () => {
    const b = breaker();
    await fail(b);
    await fail(b);
    for (let i = 0; i < 5; i += 1) {
      await fail(b, 'POOL_EXHAUSTED');
      await fail(b, 'INVALID_ARGUMENTS');
      await fail(b, 'CANCELLED');
    }
    expect(b.state).toBe('closed');
    await fail(b); // the third counted failure in a row
    expect(b.state).toBe('open');
  });
});

describe('Breaker while open', () => {
  it('fails fast with CIRCUIT_OPEN and a Retry-After counting down to reset_timeout', async () => {
    const b = breaker();
    for (let i = 0; i < 3; i += 1) await fail(b);
    const first = await expectOpenError(b);
    expect(first.retryAfter).toBe(30);
    expect(first.status).toBe(503);
    expect(first.message).toContain("'web-search'");
    vi.advanceTimersByTime(10_000);
    expect((await expectOpenError(b)).retryAfter).toBe(20);
    vi.advanceTimersByTime(19_999);
    expect(b.state).toBe('open');
    expect((await expectOpenError(b)).retryAfter).toBe(1);
  });

  it('lets exactly one probe through after reset_timeout; its success closes the circuit', async () => {
    const b = breaker();
    await toHalfOpen(b);
    let finishProbe: (value: string) => void = () => undefined;
    const probeFn = vi.fn(() => new Promise<string>((resolve) => (finishProbe = resolve)));
    const probe = b.fire(probeFn);
    expect(probeFn).toHaveBeenCalledTimes(1);
    const other = await expectOpenError(b);
    expect(other.message).toContain('probe');
    await expectOpenError(b);
    finishProbe('probe ok');
    await expect(probe).resolves.toBe('probe ok');
    expect(b.state).toBe('closed');
    await succeed(b);
  });

  it('reopens when the probe fails, for another full reset_timeout', async () => {
    const b = breaker();
    await toHalfOpen(b);
    await fail(b, 'TIMEOUT');
    expect(b.state).toBe('open');
    expect((await expectOpenError(b)).retryAfter).toBe(30);
    vi.advanceTimersByTime(29_999);
    expect(b.state).toBe('open');
    vi.advanceTimersByTime(1);
    expect(b.state).toBe('half_open');
    await succeed(b);
    expect(b.state).toBe('closed');
  });

  // reveals bug: a non-counted error of the probe makes opossum emit 'success',
  // which closes the circuit although the backend was never asked.
  it('does not close the circuit when the probe is cancelled by its caller', async () => {
    const b = breaker();
    await toHalfOpen(b);
    await fail(b, 'CANCELLED');
    expect(b.state).not.toBe('closed');
  });
});

describe('Breaker probation after closing', () => {
  // reveals bug: the probe's success is counted twice (once by `success_threshold - 1`
  // in the close handler, once by the decrement in fire()), so with the default
  // success_threshold 2 there is no probation at all.
  it('reopens on one failure right after the probe with success_threshold 2', async () => {
    const b = breaker({ success_threshold: 2 });
    await toHalfOpen(b);
    await succeed(b); // the probe: 1 of 2 successes
    expect(b.state).toBe('closed');
    await fail(b);
    expect(b.state).toBe('open');
  });

  it('reopens on one failure right after the probe with success_threshold 3', async () => {
    const b = breaker({ success_threshold: 3 });
    await toHalfOpen(b);
    await succeed(b);
    await fail(b);
    expect(b.state).toBe('open');
  });

  // reveals bug: same double count as above.
  it('with success_threshold 3 still reopens on a failure after the probe and one more success', async () => {
    const b = breaker({ success_threshold: 3 });
    await toHalfOpen(b);
    await succeed(b); // probe: 1 of 3
    await succeed(b); // 2 of 3
    await fail(b);
    expect(b.state).toBe('open');
  });

  it('is fully trusted again after success_threshold successes: one failure no longer reopens', async () => {
    const b = breaker({ success_threshold: 3 });
    await toHalfOpen(b);
    for (let i = 0; i < 3; i += 1) await succeed(b);
    await fail(b);
    await fail(b);
    expect(b.state).toBe('closed');
    await fail(b);
    expect(b.state).toBe('open');
  });
});

describe('Breaker error percentage over the rolling window', () => {
  const RATE = { failure_threshold: 100, error_threshold_percentage: 50, volume_threshold: 4, rolling_window: 10 };

  it('opens once more than error_threshold_percentage of the calls failed, never before volume_threshold calls', async () => {
    const b = breaker(RATE);
    await fail(b);
    await fail(b);
    await fail(b);
    expect(b.state).toBe('closed'); // 3 of 3 failed, but only 3 calls: below the volume
    await succeed(b);
    expect(b.state).toBe('closed');
    await fail(b); // 4 of 5 = 80 %
    expect(b.state).toBe('open');
    await expectOpenError(b);
  });

  it('needs more than the percentage: exactly 50 % keeps it closed', async () => {
    const b = breaker(RATE);
    for (let i = 0; i < 3; i += 1) {
      await succeed(b);
      await fail(b);
    }
    expect(b.state).toBe('closed'); // 3 of 6
    await fail(b); // 4 of 7
    expect(b.state).toBe('open');
  });

  it('forgets failures older than rolling_window', async () => {
    const b = breaker(RATE);
    await fail(b);
    await fail(b);
    await fail(b);
    vi.advanceTimersByTime(RATE.rolling_window * 1000 + 1_000);
    await succeed(b);
    await succeed(b);
    await succeed(b);
    await fail(b); // 1 of 4 in the window
    expect(b.state).toBe('closed');
  });

  it('does not count pool exhaustion, invalid arguments or cancellations as failures', async () => {
    const b = breaker(RATE);
    for (let i = 0; i < 10; i += 1) {
      await fail(b, 'POOL_EXHAUSTED');
      await fail(b, 'CANCELLED');
    }
    expect(b.state).toBe('closed');
  });

  it('is off at 0 %: only consecutive failures open the circuit', async () => {
    const b = breaker({ ...RATE, failure_threshold: 3, error_threshold_percentage: 0 });
    for (let i = 0; i < 10; i += 1) {
      await fail(b);
      await fail(b);
      await succeed(b);
    }
    expect(b.state).toBe('closed'); // 67 % failed, never 3 in a row
  });

  it('keeps the probe rule: exactly one call passes half-open', async () => {
    const b = breaker(RATE);
    for (let i = 0; i < 4; i += 1) await fail(b);
    expect(b.state).toBe('open');
    vi.advanceTimersByTime(SETTINGS.reset_timeout * 1000);
    let finish: (value: string) => void = () => undefined;
    const probe = b.fire(() => new Promise<string>((resolve) => (finish = resolve)));
    await expectOpenError(b);
    finish('probe ok');
    await expect(probe).resolves.toBe('probe ok');
    expect(b.state).toBe('closed');
  });
});

describe('Breaker and concurrent calls', () => {
  it('fails only the call that timed out: the others in flight keep their own outcome', async () => {
    const b = breaker({ failure_threshold: 2 });
    const results: Promise<unknown>[] = [];
    const finishers: ((value: string) => void)[] = [];
    for (let i = 0; i < 3; i += 1) results.push(b.fire(() => new Promise<string>((resolve) => finishers.push(resolve))));
    await fail(b, 'TIMEOUT');
    for (const [i, finish] of finishers.entries()) finish(`call ${i}`);
    await expect(Promise.all(results)).resolves.toEqual(['call 0', 'call 1', 'call 2']);
    expect(b.state).toBe('closed');
  });
});

describe('Breaker.shutdown', () => {
  it('turns later calls into BACKEND_UNAVAILABLE without running them', async () => {
    const b = breaker();
    b.shutdown();
    const fn = vi.fn(() => Promise.resolve(1));
    await expect(b.fire(fn)).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(fn).not.toHaveBeenCalled();
  });
});

describe('Breaker.reset (#19 item 8)', () => {
  it('closes an open circuit at once, with no probation: one failure after it does not reopen it', async () => {
    const b = breaker();
    for (let i = 0; i < 3; i += 1) await fail(b);
    expect(b.state).toBe('open');
    await expect(b.fire(() => Promise.resolve('ok'))).rejects.toMatchObject({ code: 'CIRCUIT_OPEN', message: expect.stringContaining('POST /server/reset') });
    b.reset('test');
    expect(b.state).toBe('closed');
    await succeed(b);
    await fail(b);
    expect(b.state).toBe('closed');
    await fail(b);
    await fail(b);
    expect(b.state).toBe('open'); // failure_threshold counts afresh
  });

  it('closes a half-open circuit, and leaves a closed one as it is', async () => {
    const b = breaker();
    for (let i = 0; i < 3; i += 1) await fail(b);
    vi.advanceTimersByTime(30_000);
    expect(b.state).toBe('half_open');
    b.reset('test');
    expect(b.state).toBe('closed');
    b.reset('again');
    expect(b.state).toBe('closed');
    await succeed(b);
  });
});
