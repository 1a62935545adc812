import { EventEmitter } from 'node:events';
import { Client } from '@modelcontextprotocol/client';
import type { CallToolResult } from '@modelcontextprotocol/server';
import { InMemoryTransport, McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { Connection } from '../../src/pool/connection.js';

/*
 * Real MCP connections without processes: an McpServer and a Client over the
 * SDK's InMemoryTransport, wrapped as the pool's Connection. One FakeBackend
 * stands for a backend program; each link() is one more process of it.
 */

export interface Link {
  connection: Connection;
  server: McpServer;
  /** Which link (1, 2, …) of this backend. */
  index: number;
  /** Ends the link from the backend's side, as a crashed child would. */
  kill: () => Promise<void>;
  /** How often the gateway side shut the link down. */
  shutdowns: () => number;
}

export class FakeBackend extends EventEmitter {
  /** Calls of `hold` and `slow` running right now, over every link. */
  inflight = 0;
  readonly links: Link[] = [];
  #open: () => void = () => undefined;
  readonly #gate = new Promise<void>((resolve) => (this.#open = resolve));

  /** Lets every `hold` call, running or future, finish. */
  release(): void {
    this.#open();
  }

  /** Resolves once `n` calls run at the same time; rejects after `ms` saying how many did. */
  untilInflight(n: number, ms = 2_000): Promise<void> {
    if (this.inflight >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('enter', check);
        reject(new Error(`only ${this.inflight} of ${n} calls reached the backend at once`));
      }, ms);
      const check = (): void => {
        if (this.inflight < n) return;
        clearTimeout(timer);
        this.off('enter', check);
        resolve();
      };
      this.on('enter', check);
    });
  }

  async #running<T>(work: Promise<T>): Promise<T> {
    this.inflight += 1;
    this.emit('enter');
    try {
      return await work;
    } finally {
      this.inflight -= 1;
    }
  }

  #server(): McpServer {
    const server = new McpServer({ name: 'fake', version: '1.0.0' });
    const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] });
    server.registerTool('echo', { inputSchema: z.object({ text: z.string() }) }, async ({ text: t }) => text(t));
    server.registerTool('slow', { inputSchema: z.object({ ms: z.number() }) }, async ({ ms }) => {
      await this.#running(new Promise((resolve) => setTimeout(resolve, ms)));
      return text(`slept ${ms}`);
    });
    server.registerTool('hold', { inputSchema: z.object({}) }, async () => {
      await this.#running(this.#gate);
      return text('released');
    });
    return server;
  }

  /** Makes one initialized connection to this backend; `setup` sees the client before initialize. */
  async link(setup?: (client: Client) => void): Promise<Link> {
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const server = this.#server();
    const client = new Client({ name: 'stonegate-test', version: '0' });
    setup?.(client);
    const ended = new Promise<{ reason: string; stderr: readonly string[] }>((resolve) => {
      // Set before connect(): the SDK keeps an onclose it finds and calls it first.
      clientSide.onclose = () => resolve({ reason: 'connection closed', stderr: [] });
    });
    await server.connect(serverSide);
    await client.connect(clientSide);
    let shutdowns = 0;
    const connection = new Connection({
      client,
      ended,
      shutdown: async () => {
        shutdowns += 1;
        await client.close();
        await server.close();
      },
    });
    const link: Link = { connection, server, index: this.links.length + 1, kill: () => server.close(), shutdowns: () => shutdowns };
    this.links.push(link);
    return link;
  }

  /** The link a connection belongs to. */
  linkOf(connection: Connection): Link {
    const link = this.links.find((l) => l.connection === connection);
    if (link === undefined) throw new Error('not a connection of this backend');
    return link;
  }

  /** Ends every link, for afterEach. */
  async closeAll(): Promise<void> {
    this.release();
    await Promise.all(this.links.map((l) => l.connection.close()));
  }
}

/** The text of a tool result. */
export function textOf(result: unknown): string {
  return (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : '')).join('');
}
