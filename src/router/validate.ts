import { Ajv, type ValidateFunction } from 'ajv';
import type { Logger } from '../log.js';

/**
 * Argument validation against each tool's inputSchema. Validators are
 * compiled once per schema fingerprint and kept; a schema ajv cannot compile
 * (backends publish odd ones) disables checking for that tool rather than
 * blocking it, and is logged once. Schemas are not registered by their $id
 * (addUsedSchema off): two backends, or two versions of one tool, may share an $id.
 */
export class ArgumentValidator {
  readonly #ajv = new Ajv({ allErrors: false, strict: false, validateFormats: false, coerceTypes: false, addUsedSchema: false });
  readonly #compiled = new Map<string, ValidateFunction | null>();
  readonly #log: Logger;

  constructor(logger: Logger) {
    this.#log = logger;
  }

  /** Returns an error sentence, or undefined when the arguments fit. */
  check(key: string, schema: unknown, args: unknown): string | undefined {
    let validate = this.#compiled.get(key);
    if (validate === undefined) {
      validate = this.#compile(key, schema);
      this.#compiled.set(key, validate);
    }
    if (validate === null || validate(args)) return undefined;
    return this.#ajv.errorsText(validate.errors, { dataVar: 'arguments' });
  }

  #compile(key: string, schema: unknown): ValidateFunction | null {
    try {
      // Drop $schema: backends name drafts ajv's default build does not load.
      const { $schema: _ignored, ...rest } = (schema ?? {}) as Record<string, unknown>;
      return this.#ajv.compile(rest);
    } catch (err) {
      this.#log.warn({ tool: key, error: (err as Error).message }, 'tool inputSchema does not compile; its arguments are passed unchecked');
      return null;
    }
  }
}
