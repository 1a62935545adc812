import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { CoordOptions } from './options.js';
import type { CoordLogger } from './store.js';
import { checkWebhookUrl, publicOnlyLookup } from './webhook-guard.js';

/** The doorbell body: enough to know there is mail and where, never the content. */
export interface DoorbellNotice {
  type: 'doorbell';
  agent_id: string;
  channel: string;
  message_id: number;
  from: string;
  kind: 'direct' | 'broadcast';
  sent_at: string;
}

interface Line {
  running: boolean;
  /** The newest notice that arrived while a delivery was running; later ones replace it. */
  next: { url: string; notice: DoorbellNotice } | undefined;
}

/**
 * Rings agents' webhooks after a message is committed. Fire-and-forget: ring()
 * returns at once and a failing receiver never slows or fails a send. Retries
 * with exponential backoff and jitter. Per agent at most one delivery runs and
 * one waits; a newer notice replaces the waiting one, since a doorbell only
 * says "there is mail, poll".
 */
export class Doorbell {
  private readonly lines = new Map<string, Line>();
  private readonly aborter = new AbortController();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly lookup = publicOnlyLookup();

  constructor(
    private readonly options: CoordOptions,
    private readonly logger: CoordLogger | undefined,
  ) {}

  /** Queues a notice for the agent's webhook. */
  ring(url: string, notice: DoorbellNotice): void {
    if (this.aborter.signal.aborted) return;
    const key = `${notice.agent_id}\0${url}`;
    let line = this.lines.get(key);
    if (line === undefined) {
      line = { running: false, next: undefined };
      this.lines.set(key, line);
    }
    if (line.running) {
      line.next = { url, notice };
      return;
    }
    void this.run(key, line, url, notice);
  }

  /** Stops retries and aborts requests in flight. Idempotent. */
  close(): void {
    this.aborter.abort();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.lines.clear();
  }

  private async run(key: string, line: Line, url: string, notice: DoorbellNotice): Promise<void> {
    line.running = true;
    let current: { url: string; notice: DoorbellNotice } | undefined = { url, notice };
    while (current !== undefined && !this.aborter.signal.aborted) {
      await this.deliver(current.url, current.notice);
      current = line.next;
      line.next = undefined;
    }
    line.running = false;
    if (this.lines.get(key) === line) this.lines.delete(key);
  }

  private async deliver(url: string, notice: DoorbellNotice): Promise<void> {
    const attempts = this.options.webhook_retries + 1;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        await this.post(url, notice);
        this.logger?.debug({ agent_id: notice.agent_id, message_id: notice.message_id, attempt }, 'doorbell delivered');
        return;
      } catch (error) {
        if (this.aborter.signal.aborted) return;
        const last = attempt === attempts;
        this.logger?.warn(
          { agent_id: notice.agent_id, message_id: notice.message_id, attempt, error: String(error) },
          last ? 'doorbell failed; giving up (the message stays in the inbox)' : 'doorbell failed; retrying',
        );
        if (last) return;
        const base = this.options.webhook_backoff * 1000 * 2 ** (attempt - 1);
        await this.sleep(base * (0.5 + Math.random()));
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.aborter.signal;
      const done = (): void => {
        clearTimeout(timer);
        this.timers.delete(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.timers.add(timer);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private async post(raw: string, notice: DoorbellNotice): Promise<void> {
    // Checked again at delivery: the registration may predate a config change,
    // and IP literals never go through the lookup below.
    const url = await checkWebhookUrl(raw, this.options.allow_private_webhooks);
    const body = JSON.stringify(notice);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    await new Promise<void>((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'stonegate-coord-doorbell' },
          timeout: this.options.webhook_timeout * 1000,
          signal: this.aborter.signal,
          ...(this.options.allow_private_webhooks ? {} : { lookup: this.lookup }),
        },
        (res) => {
          res.resume(); // drain; only the status matters
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve();
          else reject(new Error(`receiver answered HTTP ${status}`));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.options.webhook_timeout} s`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}
