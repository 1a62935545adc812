import { redactUrl } from './redact-url.js';

/**
 * Rethrows a failure to open PostgreSQL as one sentence a user can act on:
 * the setting that named the database (`[store] url`, `--db`), the database
 * with its password hidden, the driver's reason and what to check (or how
 * to write the URL, when it does not parse).
 */
export function unreachable(setting: string, url: string): (error: unknown) => never {
  return (error) => {
    const shown = redactUrl(url) ?? url;
    if ((error as { code?: unknown }).code === 'ERR_INVALID_URL') {
      throw new Error(`${setting}: ${shown} is not a valid PostgreSQL URL; write it as postgres://user:password@host:port/database (characters such as @ : / in the password percent-encoded)`);
    }
    throw new Error(`${setting}: could not open the PostgreSQL database at ${shown}: ${(error as Error).message}; check that it runs, that the database exists and that the user may create tables in it`);
  };
}
