import { createConnection } from 'node:net';

export { freePort } from '../../tools/free-port.js';

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port; rejects after `timeoutMs` or when `gone` settles first. */
export async function waitForPort(port: number, timeoutMs: number, gone?: Promise<unknown>): Promise<void> {
  let exited = false;
  void gone?.then(() => (exited = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`the process meant to listen on port ${port} exited`);
    if (await tryConnect(port)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`);
}
