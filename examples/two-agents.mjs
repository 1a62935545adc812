#!/usr/bin/env node
// Two agents that share the gateway's tools and coordinate through it, in
// plain Node with the MCP TypeScript SDK (no framework). Each agent is its
// own MCP client on the one URL:
//
//   planner: registers, posts a task ("add 19 and 23", for agents with the
//            math capability), tells the worker, waits for the answer.
//   worker:  registers, waits in its inbox, claims the task, finds a tool
//            for it with gate_discover, calls it (demo__add), completes
//            the task with its lease, and messages the planner.
//
// Start the gateway (the shipped stonegate.toml has the demo backend and
// mounts coord), then from the repository root:
//
//   node examples/two-agents.mjs
//
// STONEGATE_URL points it at another gateway (default http://127.0.0.1:3393);
// with [auth], STONEGATE_TOKEN is sent (or PLANNER_TOKEN / WORKER_TOKEN, one
// per agent: an agent token acts only as itself in coord, so name the
// tokens "planner-…" and "worker-…" after the ids below).
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const BASE = (process.env.STONEGATE_URL ?? 'http://127.0.0.1:3393').replace(/\/+$/, '');
// A tag per run, so a rerun does not pick up an older run's task.
const RUN = `${process.pid}-${Date.now().toString(36)}`;
const PLANNER = process.env.PLANNER_ID ?? `planner-${RUN}`;
const WORKER = process.env.WORKER_ID ?? `worker-${RUN}`;
const CAPABILITY = `math-${RUN}`;

function log(who, text) {
  console.log(`[${who.split('-')[0].padEnd(7)}] ${text}`);
}

async function connect(name, token) {
  const client = new Client({ name, version: '1.0.0' });
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  await client.connect(new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), { requestInit: { headers } }));
  return client;
}

/** Calls a tool through the gateway and returns its structured result; a tool error throws. */
async function call(client, name, args) {
  const result = await client.callTool({ name, arguments: args }, { timeout: 120_000 });
  const text = result.content?.find((c) => c.type === 'text')?.text ?? '';
  if (result.isError) throw new Error(`${name}: ${text}`);
  return result.structuredContent ?? JSON.parse(text);
}

async function planner(me) {
  const posted = await call(me, 'coord__mux_task_post', {
    description: 'add 19 and 23',
    posted_by: PLANNER,
    required_capability: CAPABILITY,
    metadata: { a: 19, b: 23 },
  });
  log(PLANNER, `posted task ${posted.task?.id ?? posted.id ?? '?'}: add 19 and 23`);
  await call(me, 'coord__mux_send', { from: PLANNER, to: WORKER, content: 'a math task is waiting for you' });
  // Wait for the worker's report in the inbox.
  for (;;) {
    const inbox = await call(me, 'coord__mux_poll', { agent_id: PLANNER, timeout: 30 });
    const report = inbox.messages.find((m) => m.from === WORKER);
    if (report !== undefined) {
      log(PLANNER, `got "${report.content}"`);
      break;
    }
  }
  const done = await call(me, 'coord__mux_task_list', { status: 'complete', limit: 100 });
  const task = done.tasks.find((t) => t.required_capability === CAPABILITY);
  log(PLANNER, `task is ${task?.status ?? 'missing'}, result ${task?.result ?? '-'}`);
  return task?.result;
}

async function worker(me) {
  log(WORKER, 'waiting for work');
  const inbox = await call(me, 'coord__mux_poll', { agent_id: WORKER, timeout: 60 });
  log(WORKER, `inbox: ${inbox.messages.map((m) => `"${m.content}" from ${m.from.split('-')[0]}`).join(', ') || '(nothing)'}`);
  const claim = await call(me, 'coord__mux_task_claim', { agent_id: WORKER });
  if (claim.task === null) throw new Error(`nothing to claim: ${claim.reason}`);
  log(WORKER, `claimed "${claim.task.description}" (lease epoch ${claim.lease.epoch})`);
  // Find a tool for the job in the shared catalog instead of hard-coding it.
  const found = await call(me, 'gate_discover', { query: 'add two numbers', limit: 1 });
  const tool = found.tools?.[0];
  log(WORKER, `gate_discover picked ${tool?.name ?? '?'} of backend ${tool?.server ?? '?'}`);
  const { a, b } = claim.task.metadata;
  const answer = await call(me, 'gate_call', { server: tool.server, tool: tool.name, arguments: { a, b } });
  const sum = answer.sum ?? answer;
  log(WORKER, `${tool.server}/${tool.name} says ${a} + ${b} = ${sum}`);
  await call(me, 'coord__mux_task_complete', { agent_id: WORKER, task_id: claim.task.id, epoch: claim.lease.epoch, result: String(sum) });
  await call(me, 'coord__mux_send', { from: WORKER, to: PLANNER, content: `done: ${a} + ${b} = ${sum}` });
}

const clients = [];
try {
  const plannerClient = await connect(PLANNER, process.env.PLANNER_TOKEN ?? process.env.STONEGATE_TOKEN);
  clients.push(plannerClient);
  const workerClient = await connect(WORKER, process.env.WORKER_TOKEN ?? process.env.STONEGATE_TOKEN);
  clients.push(workerClient);
  const { tools } = await plannerClient.listTools();
  log(PLANNER, `connected to ${BASE}/mcp: ${tools.length} tools, the same catalog for both agents`);
  // Both register before either works, so that neither messages an agent coord does not know yet.
  await call(plannerClient, 'coord__mux_register', { agent_id: PLANNER, role: 'planner', capabilities: ['plan'] });
  await call(workerClient, 'coord__mux_register', { agent_id: WORKER, role: 'worker', capabilities: [CAPABILITY] });
  const [result] = await Promise.all([planner(plannerClient), worker(workerClient)]);
  await call(plannerClient, 'coord__mux_deregister', { agent_id: PLANNER });
  await call(workerClient, 'coord__mux_deregister', { agent_id: WORKER });
  console.log(result === '42' ? 'ok: the agents agree, 19 + 23 = 42' : `unexpected result: ${result}`);
  process.exitCode = result === '42' ? 0 : 1;
} catch (error) {
  console.error(`two-agents: ${error.message}`);
  process.exitCode = 1;
} finally {
  await Promise.all(clients.map((c) => c.close()));
}
