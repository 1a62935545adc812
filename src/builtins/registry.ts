import type { BuiltinBackend } from './builtin-backend.js';
import { coordBuiltin } from './coord.js';

/**
 * The built-in backends, by name. A new one is one file beside coord.ts
 * (a BuiltinBackend) and one line here.
 */
export const BUILTINS: readonly BuiltinBackend[] = [coordBuiltin];
