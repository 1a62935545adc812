import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TelemetrySettings } from '../../src/config/telemetry-schema.js';
import { silentLogger } from '../../src/log.js';
import { createTracing } from '../../src/telemetry/otel.js';
import type { Tracing } from '../../src/telemetry/telemetry.js';

/** One span as an OTLP/HTTP receiver decodes it: ids in hex, attributes flattened. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  links: { traceId: string; spanId: string }[];
  service: string | undefined;
}

/** An in-test OTLP/HTTP trace receiver (a plain node:http server): decodes http/json and http/protobuf exports. */
export interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  /** Export requests received (any content type). */
  requests: number;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<OtlpReceiver> {
  const receiver: OtlpReceiver = { url: '', spans: [], requests: 0, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      receiver.requests += 1;
      const body = Buffer.concat(chunks);
      const json = (req.headers['content-type'] ?? '').includes('json');
      if (req.url === '/v1/traces') receiver.spans.push(...(json ? fromJson(JSON.parse(body.toString('utf8'))) : fromProtobuf(body)));
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

type JsonValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type JsonAttribute = { key: string; value: JsonValue };

function attributeValue(v: JsonValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  return v.boolValue ?? '';
}

function attributesOf(list: JsonAttribute[] | undefined): Record<string, string | number | boolean> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, attributeValue(a.value)]));
}

interface JsonExport {
  resourceSpans?: {
    resource?: { attributes?: JsonAttribute[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: JsonAttribute[];
        links?: { traceId: string; spanId: string }[];
      }[];
    }[];
  }[];
}

function fromJson(body: JsonExport): ReceivedSpan[] {
  return (body.resourceSpans ?? []).flatMap((rs) => {
    const service = attributesOf(rs.resource?.attributes)['service.name'];
    return (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((s) => ({
        traceId: s.traceId,
        spanId: s.spanId,
        parentSpanId: s.parentSpanId ?? '',
        name: s.name,
        kind: s.kind,
        attributes: attributesOf(s.attributes),
        links: (s.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
        service: service === undefined ? undefined : String(service),
      })),
    );
  });
}

/** The protobuf wire format, read by hand: field number → values (varints as numbers, length-delimited as bytes). */
function fields(buf: Buffer): Map<number, (number | Buffer)[]> {
  const out = new Map<number, (number | Buffer)[]>();
  let i = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = buf[i++] as number;
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    let value: number | Buffer;
    if (wire === 0) value = varint();
    else if (wire === 1) {
      value = buf.subarray(i, i + 8);
      i += 8;
    } else if (wire === 2) {
      const length = varint();
      value = buf.subarray(i, i + length);
      i += length;
    } else if (wire === 5) {
      value = buf.subarray(i, i + 4);
      i += 4;
    } else throw new Error(`unexpected protobuf wire type ${wire}`);
    out.set(field, [...(out.get(field) ?? []), value]);
  }
  return out;
}

const bytes = (m: Map<number, (number | Buffer)[]>, n: number): Buffer[] => (m.get(n) ?? []).filter((v): v is Buffer => Buffer.isBuffer(v));

/** KeyValue (1 key, 2 AnyValue: 1 string, 2 bool, 3 int, 4 double). */
function protoAttributes(list: Buffer[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list) {
    const f = fields(kv);
    const key = bytes(f, 1)[0]?.toString('utf8') ?? '';
    const any = fields(bytes(f, 2)[0] ?? Buffer.alloc(0));
    const s = bytes(any, 1)[0];
    if (s !== undefined) out[key] = s.toString('utf8');
    else if (any.has(2)) out[key] = any.get(2)?.[0] === 1;
    else if (any.has(3)) out[key] = any.get(3)?.[0] as number;
  }
  return out;
}

/** ExportTraceServiceRequest: 1 ResourceSpans (1 Resource, 2 ScopeSpans (2 Span)). */
function fromProtobuf(body: Buffer): ReceivedSpan[] {
  return bytes(fields(body), 1).flatMap((rsBuf) => {
    const rs = fields(rsBuf);
    const service = protoAttributes(bytes(fields(bytes(rs, 1)[0] ?? Buffer.alloc(0)), 1))['service.name'];
    return bytes(rs, 2).flatMap((ssBuf) =>
      bytes(fields(ssBuf), 2).map((spanBuf) => {
        const s = fields(spanBuf);
        return {
          traceId: bytes(s, 1)[0]?.toString('hex') ?? '',
          spanId: bytes(s, 2)[0]?.toString('hex') ?? '',
          parentSpanId: bytes(s, 4)[0]?.toString('hex') ?? '',
          name: bytes(s, 5)[0]?.toString('utf8') ?? '',
          kind: (s.get(6)?.[0] as number | undefined) ?? 0,
          attributes: protoAttributes(bytes(s, 9)),
          links: bytes(s, 13).map((l) => {
            const lf = fields(l);
            return { traceId: bytes(lf, 1)[0]?.toString('hex') ?? '', spanId: bytes(lf, 2)[0]?.toString('hex') ?? '' };
          }),
          service: service === undefined ? undefined : String(service),
        };
      }),
    );
  });
}

/**
 * An in-process tracer that exports to `url` (a receiver) as http/json at
 * sample ratio 1, its batch sent 20 ms after its first span: what the tests
 * that trace without a gateway process start from.
 */
export function tracingTo(url: string): Tracing {
  const settings = { enabled: true, otlp_endpoint: url, protocol: 'http/json', headers: {}, service_name: '', sample_ratio: 1 };
  process.env.OTEL_BSP_SCHEDULE_DELAY = '20';
  try {
    return createTracing(settings as unknown as TelemetrySettings, silentLogger());
  } finally {
    delete process.env.OTEL_BSP_SCHEDULE_DELAY;
  }
}
