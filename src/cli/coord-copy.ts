import { backupStore, type CopyReport, restoreStore } from '../builtins/coord.js';
import { UsageError } from './remote.js';

/**
 * `stonegate coord backup FILE` and `stonegate coord restore FILE` on the
 * store `db` names (backends/coord/backup.ts). A refusal (PostgreSQL, not a
 * coordination store, a server holding the store, an existing backup file)
 * is thrown with its sentence: exit 1.
 */
export async function coordCopy(verb: 'backup' | 'restore', args: readonly string[], db: string, out: (text: string) => void): Promise<number> {
  const [file, ...rest] = args;
  if (file === undefined || rest.length > 0) throw new UsageError(`coord ${verb} takes one FILE, e.g. stonegate coord ${verb} coord-backup.db`);
  let report: CopyReport;
  if (verb === 'backup') {
    report = await backupStore(db, file);
    out(`backed up ${db} to ${report.file} (${report.pages} pages, schema version ${report.schema_version})`);
  } else {
    report = await restoreStore(file, db);
    out(`restored ${file} to ${report.file} (${report.pages} pages, schema version ${report.schema_version}); start the server on it`);
  }
  return 0;
}
