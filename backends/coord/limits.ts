import { CoordError } from './errors.js';
import type { CoordOptions } from './options.js';

/*
 * The refusal of a request over one of the [coordination] limits
 * (max_intent_length, max_list_entries, max_path_length, max_capabilities,
 * max_message_size, max_value_size): PAYLOAD_TOO_LARGE, a sentence naming
 * the field, the limit and the key that sets it, and {field, size, limit}.
 */

/** The [coordination] keys that limit one request by a count or a length. */
export type LimitKey = 'max_intent_length' | 'max_list_entries' | 'max_path_length' | 'max_capabilities';

/** What a limit counts, as its sentence says it. */
const UNIT: Readonly<Record<LimitKey, string>> = {
  max_intent_length: 'characters',
  max_list_entries: 'entries',
  max_path_length: 'characters',
  max_capabilities: 'entries',
};

/** Refuses `size` over `options[key]` for `field` (named `what` in the sentence, e.g. `paths[3]`); `hint` says what to do instead. */
export function withinLimit(field: string, size: number, key: LimitKey, options: CoordOptions, hint = '', what = field): void {
  const limit = options[key];
  if (size <= limit) return;
  const unit = UNIT[key];
  throw new CoordError('PAYLOAD_TOO_LARGE', `${what} has ${size} ${unit}; the limit is ${limit} ${unit} (${key}).${hint === '' ? '' : ` ${hint}`}`, {
    field,
    size,
    limit,
  });
}
