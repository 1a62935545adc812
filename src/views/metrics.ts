import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Catalog } from '../catalog/catalog.js';
import type { CallLog } from '../router/call-log.js';
import type { Router } from '../router/router.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import { tracing } from '../telemetry/telemetry.js';
import { DEFAULT_METRICS_LOOP_PRECISION, registerLoopDelay } from './loop-delay.js';

export interface MetricsSources {
  supervisor: Supervisor;
  catalog: Catalog;
  router: Router;
  callLog: CallLog;
}

const STATES = ['stopped', 'starting', 'running', 'degraded', 'restarting', 'failed', 'needs_auth'] as const;
const CIRCUITS = ['closed', 'open', 'half_open'] as const;

/**
 * Prometheus metrics of one gateway, in a registry of its own. Calls are
 * counted as they are recorded; backend, breaker and pool gauges are read
 * when scraped. The tool label is `(unknown)` for names no backend has, so
 * clients cannot grow the label set at will.
 */
export function createMetrics(sources: MetricsSources): Registry {
  const registry = new Registry();
  // [speed] The event loop's delay is sampled only while the gateway works (loop-delay.ts), not every 10 ms for ever.
  collectDefaultMetrics({ register: registry, prefix: 'stonegate_process_', eventLoopMonitoringPrecision: DEFAULT_METRICS_LOOP_PRECISION });
  registerLoopDelay(registry, 'stonegate_process_');
  const { supervisor, catalog, router, callLog } = sources;

  const calls = new Counter({
    name: 'stonegate_calls_total',
    help: 'Tool calls routed, by backend, tool and outcome (success, error, timeout).',
    labelNames: ['server', 'tool', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'stonegate_call_duration_seconds',
    help: 'Tool call latency through the gateway, by backend.',
    labelNames: ['server'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  callLog.onRecord((record) => {
    const tool = catalog.resolve(record.server, record.tool) === undefined ? '(unknown)' : record.tool;
    calls.inc({ server: record.server, tool, status: record.status });
    latency.observe({ server: record.server }, record.duration_ms / 1000);
  });

  new Gauge({
    name: 'stonegate_backend_state',
    help: '1 for the state each backend is in.',
    labelNames: ['server', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const b of supervisor.list()) for (const state of STATES) this.set({ server: b.name, state }, b.state === state ? 1 : 0);
    },
  });
  new Gauge({
    name: 'stonegate_circuit_state',
    help: "1 for the state of each backend's circuit breaker.",
    labelNames: ['server', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const b of supervisor.list()) {
        const current = router.breaker(b.name).state;
        for (const state of CIRCUITS) this.set({ server: b.name, state }, current === state ? 1 : 0);
      }
    },
  });
  const poolGauge = (name: string, help: string, pick: (p: ReturnType<Supervisor['list']>[number]) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['server'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const b of supervisor.list()) this.set({ server: b.name }, pick(b));
      },
    });
  };
  poolGauge('stonegate_pool_connections', 'Connections of each backend (stdio: processes).', (b) => b.info().pool.size);
  poolGauge('stonegate_pool_available', 'Idle connections of each backend.', (b) => b.info().pool.available);
  poolGauge('stonegate_pool_pending', 'Calls waiting for a connection, per backend.', (b) => b.info().pool.pending);
  poolGauge('stonegate_pool_inflight', 'Calls in flight, per backend.', (b) => b.info().pool.inflight);
  poolGauge('stonegate_pool_sessions', 'MCP sessions holding connections of their own (affinity = "session"), per backend.', (b) => b.info().pool.sessions);
  poolGauge('stonegate_backend_restarts', 'Restarts of each backend since it was started.', (b) => b.info().restarts);
  poolGauge('stonegate_backend_tools', 'Tools listed by each backend.', (b) => catalog.toolCount(b.name));
  new Gauge({
    name: 'stonegate_backend_processes',
    help: 'Live child processes across all stdio backends.',
    registers: [registry],
    collect() {
      this.set(supervisor.list().reduce((n, b) => n + (b.config.transport === 'stdio' ? b.info().pool.size : 0), 0));
    },
  });
  // [otel] What tracing sent and lost (queue full, collector unreachable); 0 while tracing is off.
  for (const [name, help, pick] of [
    ['stonegate_trace_spans_exported_total', 'Spans exported to the OTLP collector.', 'exported'],
    ['stonegate_trace_spans_dropped_total', 'Spans dropped: the export queue was full, or the collector did not take them.', 'dropped'],
  ] as const) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(tracing()?.counts[pick] ?? 0);
      },
    });
  }
  return registry;
}
