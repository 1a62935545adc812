// The backend detail drawer (#33 item 2): state and protocol era, OAuth
// status, last_error and the stderr tail, the state history (GET
// /server/history: starts, crashes, restarts, circuit transitions, with
// times), the redacted config (GET /config, admin), the tools with their
// schemas, the tool-definition changes with approve (admin), and the
// lifecycle buttons (admin): restart, stop (disable), start (enable),
// reset the circuit, remove.

import { $, api, button, el, errorText, oauthText, on, pill, state } from './kit.js';
import { tryTool } from './playground.js';

let openName;
let toolsKey = '';

function era(protocol) {
  if (!protocol?.era) return '— (not asked yet)';
  return `${protocol.era} ${protocol.version ?? ''} (${protocol.how ?? ''}${protocol.probed_at ? ` ${new Date(protocol.probed_at).toLocaleTimeString()}` : ''})`;
}

function section(id, title, children) {
  const box = el('section', undefined, 'drawer-section', [el('h3', title), ...children]);
  box.id = id;
  return box;
}

async function act(action, name, why) {
  const out = $('drawer-actions-result');
  if (action === 'remove' && !window.confirm(`Remove backend '${name}'? It stays removed after a restart of the gateway.`)) return;
  out.textContent = `${action}…`;
  try {
    await api('POST', `/server/${action}`, { name });
    out.textContent = `${why ?? action}: done`;
    if (action === 'remove') close();
  } catch (error) {
    out.textContent = `${action}: ${errorText(error)}`;
  }
}

function actions(s) {
  if (!state.admin) return [];
  const serving = s.status === 'running' || s.status === 'degraded';
  const b = (action, label, title) => {
    const node = button(label, () => act(action, s.name, label));
    node.dataset.action = action;
    node.title = title;
    return node;
  };
  const buttons = [
    b('restart', 'restart', 'stop, then start (clears the crash count and closes the circuit)'),
    serving || s.enabled
      ? b('stop', 'disable', 'stop it and keep it stopped across gateway restarts')
      : b('start', 'enable', 'start it and start it with the gateway'),
    b('reset', 'reset circuit', 'close an open circuit by hand'),
    b('remove', 'remove', 'stop it and forget it'),
  ];
  buttons[2].disabled = s.circuit === 'closed';
  const result = el('output');
  result.id = 'drawer-actions-result';
  return [section('drawer-actions', 'Actions', [el('div', undefined, 'admin-only buttons', buttons), result])];
}

function summary(s) {
  const rows = [
    ['status', [pill(s.status)]],
    ['enabled', s.enabled ? 'yes' : 'no'],
    ['transport', `${s.transport} (${s.origin})`],
    ['protocol era', era(s.protocol)],
    ['oauth', oauthText(s) ?? '—'],
    ['circuit', [pill(s.circuit)]],
    ['pid', s.pid ?? '—'],
    ['uptime', `${s.uptime_seconds} s`],
    ['restarts', s.restarts],
    ['pool', `${s.pool.active}/${s.pool.size} busy, ${s.pool.inflight} in flight, ${s.pool.pending} waiting`],
    ['calls', `${s.total_calls}, ${(s.error_rate * 100).toFixed(1)}% errors`],
  ];
  const dl = el(
    'dl',
    undefined,
    undefined,
    rows.flatMap(([k, v]) => [el('dt', k), Array.isArray(v) ? el('dd', undefined, undefined, v) : el('dd', v)]),
  );
  return section('drawer-summary', 'State', [dl]);
}

function toolChanges(s) {
  if (s.tool_changes.length === 0) return [];
  const items = s.tool_changes.map((c) => {
    const li = el('li', `${new Date(c.at).toLocaleString()} ${c.tool}: ${c.from ?? '(new)'} → ${c.to}${c.held ? ' (withheld)' : ''}`);
    if (c.pending && state.admin) {
      const approve = button('approve', async () => {
        try {
          await api('POST', '/server/approve', { name: s.name, tool: c.tool });
          approve.replaceWith(el('span', ' approved', 'muted'));
        } catch (error) {
          approve.replaceWith(el('span', ` ${errorText(error)}`, 'error'));
        }
      });
      approve.classList.add('admin-only');
      approve.dataset.action = 'approve';
      li.append(' ', approve);
    }
    return li;
  });
  return [section('drawer-changes', 'Tool definition changes', [el('ul', undefined, undefined, items)])];
}

async function history(name) {
  const list = el('ol', undefined, 'history');
  list.id = 'drawer-history';
  try {
    const { events } = await api('GET', `/server/history?name=${encodeURIComponent(name)}`);
    list.append(
      ...events
        .slice()
        .reverse()
        .map((e) => {
          const what = e.kind === 'added' || e.kind === 'removed' ? e.kind : `${e.kind === 'circuit' ? 'circuit ' : ''}${e.from} → ${e.to}`;
          const li = el('li', undefined, `kind-${e.kind}`, [
            el('span', new Date(e.at).toLocaleTimeString(), 'muted'),
            el('span', ` ${e.kind === 'crash' ? 'CRASH ' : ''}${what}`),
          ]);
          if (e.error) li.append(el('div', e.error, 'error'));
          li.dataset.kind = e.kind;
          return li;
        }),
    );
    if (events.length === 0) list.append(el('li', 'nothing yet', 'muted'));
  } catch (error) {
    list.append(el('li', errorText(error), 'error'));
  }
  return section('drawer-history-box', 'History (newest first)', [list]);
}

function config(name) {
  if (!state.admin) return [];
  const entry = state.config?.backends?.find((b) => b.name === name);
  return [section('drawer-config', 'Config (redacted, GET /config)', [el('pre', entry === undefined ? 'not in GET /config' : JSON.stringify(entry, null, 2))])];
}

async function tools(s) {
  const box = section('drawer-tools', `Tools (${s.tool_count})`, []);
  try {
    const listed = await api('GET', `/tools/${encodeURIComponent(s.name)}`);
    for (const t of listed.tools) {
      const row = el('details', undefined, 'tool', [
        el('summary', undefined, undefined, [el('code', t.name), el('span', ` ${(t.description ?? '').split('\n')[0]}`, 'muted')]),
        button('try in the playground', () => tryTool(t.exposed_name)),
        el('pre', JSON.stringify(t.parameters, null, 2)),
      ]);
      row.dataset.tool = t.name;
      box.append(row);
    }
  } catch (error) {
    box.append(el('p', errorText(error), 'error'));
  }
  return box;
}

let rendering = false;
async function render(full) {
  const s = state.servers.find((x) => x.name === openName);
  if (s === undefined || rendering) return;
  rendering = true;
  try {
    const key = `${s.name}:${s.tool_count}:${s.status}`;
    const toolBox = full || key !== toolsKey ? await tools(s) : $('drawer-tools');
    toolsKey = key;
    const parts = [
      summary(s),
      ...actions(s),
      section('drawer-error', 'last_error', [el('pre', s.last_error ?? '—', s.last_error ? 'error' : 'muted')]),
      section('drawer-stderr', 'stderr tail (as of the last crash)', [el('pre', s.last_stderr.length === 0 ? '—' : s.last_stderr.join('\n'))]),
      await history(s.name),
      ...toolChanges(s),
      ...config(s.name),
      toolBox,
    ];
    // Keep what the reader opened and the last action's outcome across refreshes.
    const opened = new Set([...$('drawer-body').querySelectorAll('details[open]')].map((d) => d.dataset.tool));
    const outcome = $('drawer-actions-result')?.textContent;
    if (openName !== s.name) return;
    $('drawer-title').replaceChildren(el('span', s.name), ' ', pill(s.status));
    $('drawer-body').replaceChildren(...parts);
    for (const d of $('drawer-body').querySelectorAll('details.tool')) if (opened.has(d.dataset.tool)) d.open = true;
    if (outcome && $('drawer-actions-result')) $('drawer-actions-result').textContent = outcome;
  } finally {
    rendering = false;
  }
}

/** Opens the drawer on a backend. */
export function openDetail(name) {
  openName = name;
  toolsKey = '';
  $('drawer').hidden = false;
  $('drawer').dataset.backend = name;
  $('drawer-body').replaceChildren(el('p', 'loading…', 'muted'));
  void render(true);
}

function close() {
  openName = undefined;
  $('drawer').hidden = true;
}

$('drawer-close').addEventListener('click', close);
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') close();
});
on('servers', (servers) => {
  if (openName === undefined) return;
  if (!servers.some((s) => s.name === openName)) {
    $('drawer-body').replaceChildren(el('p', `backend '${openName}' is gone`, 'muted'));
    return;
  }
  void render(false);
});
