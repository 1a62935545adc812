/** A result table: the same data prints to the terminal and goes into RESULTS.md. */
export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
  /** Columns aligned left (by index); the rest align right, as numbers do. */
  leftColumns?: number[];
  /** A sentence under the table. */
  note?: string;
}

/** Renders a table as Markdown, padded so that it also reads well in a terminal. */
export function renderTable(table: Table): string {
  const left = new Set(table.leftColumns ?? [0]);
  const widths = table.columns.map((c, i) => Math.max(c.length, ...table.rows.map((r) => (r[i] ?? '').length)));
  const pad = (cell: string, i: number): string => (left.has(i) ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => pad(c, i)).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (left.has(i) ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `)).join('|')}|`;
  const out = [`**${table.title}**`, '', line(table.columns), rule, ...table.rows.map(line)];
  if (table.note !== undefined) out.push('', table.note);
  return out.join('\n');
}
