import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './remote.js';

/*
 * `stonegate init --write-claude-md`: the coordination etiquette for agents,
 * written into the project's CLAUDE.md and AGENTS.md (both when both exist,
 * the one that exists, CLAUDE.md when neither does) between marker comments.
 * Running it again rewrites only the marked block; `--uninstall` removes the
 * block and the line breaks it added before it (the begin marker records how
 * many, and whether it created the file), so the file is byte for byte what
 * it was — or gone, when init created it.
 */

const BEGIN = /<!-- stonegate:coordination:begin lead=([0-2]) created=(yes|no) -->\n/;
const END = '<!-- stonegate:coordination:end -->\n';

/** The etiquette itself: what an agent sharing a repository through stonegate's coordination backend should do. */
export const ETIQUETTE = `## Coordinating with other agents (stonegate)

Other agents may be editing this repository at the same time. They and you
meet through stonegate's coordination tools (\`coord__mux_*\` on the
stonegate MCP server). The text between these markers is written by
\`stonegate init --write-claude-md\`; \`--uninstall\` removes it.

- **Register once** with \`mux_register\` (a stable \`agent_id\`, your role)
  and keep calling; any call counts as a heartbeat.
- **Announce before editing.** Call \`mux_claim_announce\` with the paths you
  are about to change and one sentence of intent before the first edit, and
  read its answer: on \`caution\` or a conflict, coordinate first; with
  \`exclusive: true\` a conflicting claim is refused, not granted.
- **Answer threads.** When a notice of \`kind: "thread"\` arrives, or
  \`mux_thread_updates\` shows one, read it (\`mux_thread_get\`) and answer
  (\`mux_thread_post\`, \`mux_thread_approve\` or \`mux_thread_contest\`) before
  you go on with the files it is about; silence leaves the others waiting.
- **Release claims** with \`mux_claim_release\` as soon as the edit is done
  (committed or abandoned), and \`mux_deregister\` when you stop.
- **Renew leases** before they lapse: \`mux_claim_renew\` for a work claim that
  outlives its TTL; for a claimed task that takes longer than its lease,
  \`mux_task_renew\` (or a heartbeat naming the task), and complete it with
  the \`epoch\` of the lease.
- **Poll with \`after\`.** Call \`mux_poll\` with \`after\` set to the
  \`next_cursor\` of the batch you last handled: nothing is lost if you crash
  between reading and handling, and nothing comes twice.
`;

/** What --write-claude-md did to one file. */
export type EtiquetteOutcome = 'created' | 'added' | 'updated' | 'unchanged' | 'removed' | 'deleted' | 'absent';

/** The files the etiquette goes to in `dir`: both when both exist, the one that exists, else CLAUDE.md. */
export function etiquetteTargets(dir: string): string[] {
  const present = ['CLAUDE.md', 'AGENTS.md'].map((name) => join(dir, name)).filter((path) => existsSync(path));
  return present.length > 0 ? present : [join(dir, 'CLAUDE.md')];
}

/** The marked block as written with `lead` line breaks before it. */
function block(lead: number, created: boolean): string {
  return `${'\n'.repeat(lead)}<!-- stonegate:coordination:begin lead=${lead} created=${created ? 'yes' : 'no'} -->\n${ETIQUETTE}${END}`;
}

/** Where the block sits in `text` (from its leading line breaks to the end marker's line break), if it does. */
function findBlock(text: string, path: string): { start: number; end: number; lead: number; created: boolean } | undefined {
  const begin = BEGIN.exec(text);
  if (begin === null) return undefined;
  const lead = Number(begin[1]);
  const start = begin.index - lead;
  const endAt = text.indexOf(END, begin.index);
  if (endAt < 0 || start < 0 || text.slice(start, begin.index) !== '\n'.repeat(lead)) {
    throw new UsageError(
      `${path}: the stonegate coordination markers are damaged (an end marker is missing, or the text before the begin marker changed); fix or remove them by hand`,
    );
  }
  return { start, end: endAt + END.length, lead, created: begin[2] === 'yes' };
}

/** Writes a file through a temp file and a rename. */
function save(path: string, text: string): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, path);
}

/** Writes (or rewrites) the etiquette block in `path`, appended after the user's own text. */
export function installEtiquette(path: string): EtiquetteOutcome {
  if (!existsSync(path)) {
    save(path, block(0, true));
    return 'created';
  }
  const text = readFileSync(path, 'utf8');
  const found = findBlock(text, path);
  if (found !== undefined) {
    const next = text.slice(0, found.start) + block(found.lead, found.created) + text.slice(found.end);
    if (next === text) return 'unchanged';
    save(path, next);
    return 'updated';
  }
  // A blank line between the user's text and the block: as many line breaks as that takes.
  const lead = text === '' ? 0 : text.endsWith('\n\n') ? 0 : text.endsWith('\n') ? 1 : 2;
  save(path, text + block(lead, false));
  return 'added';
}

/** Removes what installEtiquette wrote to `path`: the block and its leading line breaks, or the file it created. */
export function uninstallEtiquette(path: string): EtiquetteOutcome {
  if (!existsSync(path)) return 'absent';
  const text = readFileSync(path, 'utf8');
  const found = findBlock(text, path);
  if (found === undefined) return 'absent';
  const rest = text.slice(0, found.start) + text.slice(found.end);
  if (found.created && rest === '') {
    rmSync(path);
    return 'deleted';
  }
  save(path, rest);
  return 'removed';
}

/** `--write-claude-md [--uninstall]` in `dir`; one line per file. */
export function runEtiquette(dir: string, uninstall: boolean, out: (text: string) => void): void {
  const said: Record<EtiquetteOutcome, string> = {
    created: 'created with the coordination etiquette:',
    added: 'added the coordination etiquette to',
    updated: 'updated the coordination etiquette in',
    unchanged: 'coordination etiquette already up to date:',
    removed: 'removed the coordination etiquette from',
    deleted: 'deleted (init had created it for the etiquette):',
    absent: 'no coordination etiquette in',
  };
  const targets = uninstall ? ['CLAUDE.md', 'AGENTS.md'].map((name) => join(dir, name)).filter((path) => existsSync(path)) : etiquetteTargets(dir);
  for (const path of targets) out(`${said[(uninstall ? uninstallEtiquette : installEtiquette)(path)]} ${path}`);
}
