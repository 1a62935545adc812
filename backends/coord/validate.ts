import { CoordError } from './errors.js';
import type { CoordOptions } from './options.js';
import { DEFAULT_CHANNEL } from './types.js';

/*
 * Checks every store applies before touching data, so that MCP, REST and
 * any store implementation refuse the same inputs with the same sentences.
 * Surfaces validate types with zod; these are the semantic rules.
 */

const CHANNEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/** Default page size of list answers, and the most one answer carries. */
export const LIMITS = { defaultPage: 100, maxPage: 1000, defaultHistory: 50 } as const;

/** The input field a refusal about `what` blames: `agent_id`, `participants` for 'participants entry'; none for a description. */
function fieldOf(what: string): { field: string } | undefined {
  const field = what.endsWith(' entry') ? what.slice(0, -' entry'.length) : what;
  return /^[a-z_]+$/.test(field) ? { field } : undefined;
}

/** The channel name, defaulted and checked: omitted (or null) is "default"; an empty name is refused, not taken for the default. */
export function channelName(name: string | null | undefined, field = 'channel'): string {
  if (name === undefined || name === null) return DEFAULT_CHANNEL;
  if (name === '')
    throw new CoordError(
      'BAD_REQUEST',
      `Channel name is empty; omit channel for '${DEFAULT_CHANNEL}', or name one (1 to 64 characters from A-Z a-z 0-9 . _ : -).`,
      { field },
    );
  if (!CHANNEL_NAME.test(name)) {
    throw new CoordError(
      'BAD_REQUEST',
      `Channel name '${name}' is not valid: use 1 to 64 characters from A-Z a-z 0-9 . _ : -, starting with a letter or digit.`,
      { field },
    );
  }
  return name;
}

/** The name of a channel to create: like channelName, but it must be given (an empty name is not the default channel). */
export function newChannelName(name: string): string {
  if (name === '')
    throw new CoordError('BAD_REQUEST', 'Channel name is empty; name the channel (1 to 64 characters from A-Z a-z 0-9 . _ : -).', { field: 'name' });
  return channelName(name, 'name');
}

/**
 * Characters no name may hold, because they make two different names look
 * alike or hide what a name is: control characters (Unicode Cc), format
 * characters (Cf: zero-width spaces and joiners, bidirectional marks and
 * overrides, the byte-order mark, soft hyphen), line and paragraph separators
 * and lone surrogates. `agent\u200b` would otherwise be a second agent that
 * prints as `agent`, and `\u202e` turns the rest of a name around on screen.
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;

/** Printable ASCII, not starting or ending with a space: a valid name as it is. */
const PLAIN_ASCII = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** U+XXXX of a character. */
function codePoint(char: string): string {
  return `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * An identifier (agent id, role, group, capability, state key, task id,
 * repo): normalized to Unicode NFC, so one name typed in two normal forms is
 * one name; then 1 to `max` characters, none hidden (HIDDEN), no surrounding
 * spaces. The normalized form is the one stored and answered.
 */
export function ident(value: string, what: string, max = 128): string {
  // Nearly every name is printable ASCII, already NFC: checked without normalizing (ident runs on every send and poll).
  if (value.length <= max && PLAIN_ASCII.test(value)) return value;
  const name = value.normalize('NFC');
  const hidden = HIDDEN.exec(name);
  if (hidden !== null) {
    throw new CoordError(
      'BAD_REQUEST',
      `${what} contains ${codePoint(hidden[0])}, an invisible control, format or text-direction character; use 1 to ${max} visible characters.`,
      fieldOf(what),
    );
  }
  if (name.length === 0 || name.length > max || name.trim() !== name) {
    throw new CoordError('BAD_REQUEST', `${what} '${name.slice(0, 40)}' is not valid: use 1 to ${max} characters without surrounding spaces.`, fieldOf(what));
  }
  return name;
}

/** Optional identifier: undefined and null mean none; an empty string is refused (omit the field instead). */
export function optionalIdent(value: string | null | undefined, what: string): string | null {
  if (value === undefined || value === null) return null;
  if (value === '') throw new CoordError('BAD_REQUEST', `${what} is empty; omit it (or pass null) for none, or give a name.`, fieldOf(what));
  return ident(value, what);
}

/** Refuses message content over max_message_size (UTF-8 bytes). */
export function messageContent(content: string, options: CoordOptions): string {
  const size = Buffer.byteLength(content, 'utf8');
  if (size > options.max_message_size) {
    throw new CoordError(
      'PAYLOAD_TOO_LARGE',
      `Message content is ${size} bytes; the limit is ${options.max_message_size} bytes (max_message_size). Send a shorter message, or put the payload in shared state and send its key.`,
      { field: 'content', size, limit: options.max_message_size },
    );
  }
  if (content.length === 0) throw new CoordError('BAD_REQUEST', 'Message content is empty; send some text.', { field: 'content' });
  return content;
}

/** Serializes a JSON value (of the input field `field`) and refuses it over max_value_size. */
export function jsonValue(value: unknown, what: string, options: CoordOptions, field?: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined)
    throw new CoordError(
      'BAD_REQUEST',
      `${what} is not a JSON value; send a string, number, boolean, array or object.`,
      field === undefined ? undefined : { field },
    );
  textSize(text, what, options, field);
  return text;
}

/** Refuses a text (of the input field `field`) over max_value_size (UTF-8 bytes). */
export function textSize(text: string, what: string, options: CoordOptions, field?: string): string {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > options.max_value_size) {
    throw new CoordError('PAYLOAD_TOO_LARGE', `${what} is ${size} bytes; the limit is ${options.max_value_size} bytes (max_value_size).`, {
      ...(field === undefined ? {} : { field }),
      size,
      limit: options.max_value_size,
    });
  }
  return text;
}

/** A long-poll timeout in ms, capped by poll_timeout_max; `fallback` seconds when not given. */
export function pollTimeoutMs(timeoutMs: number | undefined, options: CoordOptions, fallbackSeconds = 30): number {
  const cap = options.poll_timeout_max * 1000;
  const wanted = timeoutMs ?? Math.min(fallbackSeconds * 1000, cap);
  if (!Number.isFinite(wanted) || wanted < 0) throw new CoordError('BAD_REQUEST', `Timeout ${wanted} ms is not valid; give 0 or more seconds.`);
  return Math.min(wanted, cap);
}

/** A page size between 1 and LIMITS.maxPage. */
export function pageSize(limit: number | undefined, fallback: number = LIMITS.defaultPage): number {
  const wanted = limit ?? fallback;
  if (!Number.isInteger(wanted) || wanted < 1)
    throw new CoordError('BAD_REQUEST', `Limit ${wanted} is not valid; give a whole number of 1 or more.`, { field: 'limit' });
  return Math.min(wanted, LIMITS.maxPage);
}

/** A non-negative integer id or cursor. */
export function position(value: number | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 0)
    throw new CoordError('BAD_REQUEST', `${what} ${value} is not valid; give a whole number of 0 or more.`, fieldOf(what));
  return value;
}

/** The last time iso() formatted. */
let lastIso = { ms: Number.NaN, text: '' };

/** ISO time of a stored millisecond timestamp. */
export function iso(ms: number): string {
  // Rows written in the same millisecond share their time; under load most of them do.
  if (ms !== lastIso.ms) lastIso = { ms, text: new Date(ms).toISOString() };
  return lastIso.text;
}

/** ISO time or null. */
export function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : iso(ms);
}
