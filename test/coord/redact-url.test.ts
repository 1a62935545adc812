import { describe, expect, it } from 'vitest';
import { isPostgresUrl } from '../../backends/coord/open-store.js';
import { REDACTED, redactUrl } from '../../kit/redact-url.js';

describe('redactUrl', () => {
  it('hides the user and password of a URL that parses, and leaves one without them as it is', () => {
    const shown = redactUrl('postgres://stonegate:s3cret-pw@db.internal:5432/coord') ?? '';
    expect(shown).not.toContain('s3cret-pw');
    expect(shown).not.toContain('stonegate@');
    expect(shown).toMatch(/^postgres:\/\/[^@]+@db\.internal:5432\/coord$/);
    expect(redactUrl('http://127.0.0.1:3393/mcp')).toBe('http://127.0.0.1:3393/mcp');
    expect(redactUrl(undefined)).toBeUndefined();
  });

  it('hides everything up to the last @ of a URL that does not parse', () => {
    expect(redactUrl('postgres://u:s3cret@pw@host:99999/x')).toBe(`postgres://${REDACTED}@host:99999/x`);
    expect(redactUrl('postgresql://u:pw with space@h st/x')).toBe(`postgresql://${REDACTED}@h st/x`);
    // Nothing to hide: kept as is.
    expect(redactUrl('not a url')).toBe('not a url');
  });
});

describe('isPostgresUrl', () => {
  it('takes postgres:// and postgresql:// (any case) as PostgreSQL and everything else as a SQLite path', () => {
    expect(isPostgresUrl('postgres://h/db')).toBe(true);
    expect(isPostgresUrl('PostgreSQL://h/db')).toBe(true);
    expect(isPostgresUrl('./postgres://h')).toBe(false);
    expect(isPostgresUrl('/var/lib/coord.db')).toBe(false);
    expect(isPostgresUrl(':memory:')).toBe(false);
  });
});
