/**
 * The [[backends]] transports, each with the key its entry must set (the
 * connectors are in src/supervisor/transports/). A new transport is one
 * line here, one connector file there and one line in supervisor/transport.ts.
 */
export const TRANSPORT_NEEDS = {
  stdio: { key: 'command', message: "a stdio backend needs 'command'" },
  http: { key: 'url', message: "an http backend needs 'url'" },
  builtin: undefined,
} as const satisfies Record<string, { key: 'command' | 'url'; message: string } | undefined>;

/** A backend transport's name. */
export type Transport = keyof typeof TRANSPORT_NEEDS;

/** The transports' names, for the schema's enum. */
export const TRANSPORT_NAMES = Object.keys(TRANSPORT_NEEDS) as [Transport, ...Transport[]];
