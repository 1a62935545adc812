/** What a secret is shown as, wherever one would appear (logs, errors, GET /config). */
export const REDACTED = '[redacted]';

/**
 * A URL with its password (and user) hidden; kept as is when it has
 * neither. One that does not parse (a port out of range, a stray space)
 * still loses everything between `//` and its last `@`: a database URL in
 * a start error must never show its password.
 */
export function redactUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    const parsed = new URL(url);
    if (parsed.password !== '' || parsed.username !== '') {
      parsed.username = REDACTED;
      parsed.password = '';
    }
    return parsed.href;
  } catch {
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/).*@/i, `$1${REDACTED}@`);
  }
}
