import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: bench files run from dist/bench/lib/. */
export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/**
 * The `stonegate` command. STONEGATE_BENCH_BIN points the benches at
 * another build (a copy with one change applied) for an A/B comparison.
 */
export const BIN = process.env.STONEGATE_BENCH_BIN ?? join(ROOT, 'bin', 'stonegate.js');
/** The compiled demo backend, the one backend every target runs. */
export const DEMO = join(ROOT, 'dist', 'backends', 'demo', 'server.js');
/** The Node that runs the bench runs every process too. */
export const NODE = process.execPath;
export const SUPERGATEWAY = join(ROOT, 'node_modules', '.bin', 'supergateway');
export const MCP_PROXY = join(ROOT, 'node_modules', '.bin', 'mcp-proxy');
/** Where bench results and RESULTS.md live (the source folder, not dist/). */
export const BENCH_DIR = join(ROOT, 'bench');
