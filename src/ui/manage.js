// Runtime management (#33 item 4, admin only): add a backend from a form —
// sent to POST /server/add as one [[backends]] entry, so the gateway applies
// the same schema and runtime-add policy as to any API caller — and remove,
// disable (POST /server/stop, remembered) or enable (POST /server/start)
// one. Errors are shown as the API gives them (code and message).

import { $, api, button, el, errorText, on, state } from './kit.js';

const form = $('add-form');
const list = el('ul', undefined, 'manage-list');
list.id = 'manage-list';
$('manage-panel').append(el('h3', 'Backends'), list);

function showTransport() {
  const http = form.elements.transport.value === 'http';
  for (const node of form.querySelectorAll('.stdio')) node.hidden = http;
  for (const node of form.querySelectorAll('.http')) node.hidden = !http;
}

/** args: a JSON list, or words split on spaces. */
function argsOf(text) {
  const t = text.trim();
  if (t === '') return undefined;
  if (t.startsWith('[')) return JSON.parse(t);
  return t.split(/\s+/);
}

/** env: KEY=value lines. */
function envOf(text) {
  const env = {};
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    const at = t.indexOf('=');
    if (at < 1) throw new Error(`env line '${t.slice(0, 40)}' is not KEY=value`);
    env[t.slice(0, at)] = t.slice(at + 1);
  }
  return Object.keys(env).length === 0 ? undefined : env;
}

/** The entry the form describes; the raw JSON, when given, as it is. */
function entryOf() {
  const f = form.elements;
  if (f.raw.value.trim() !== '') return JSON.parse(f.raw.value);
  const entry = { name: f.name.value.trim(), transport: f.transport.value };
  if (entry.transport === 'http') entry.url = f.url.value.trim();
  else {
    entry.command = f.command.value.trim();
    const args = argsOf(f.args.value);
    if (args !== undefined) entry.args = args;
  }
  const env = envOf(f.env.value);
  if (env !== undefined) entry.env = env;
  return entry;
}

form.elements.transport.addEventListener('change', showTransport);
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const out = $('add-result');
  let entry;
  try {
    entry = entryOf();
  } catch (error) {
    out.textContent = `not sent: ${error.message}`;
    out.className = 'error';
    return;
  }
  out.textContent = `adding ${entry.name ?? ''}… (answers once it runs)`;
  out.className = 'muted';
  const submit = form.querySelector('button[type=submit]');
  submit.disabled = true;
  try {
    const added = await api('POST', '/server/add', entry);
    out.textContent = `added ${added.server.name}: ${added.server.status}, ${added.server.tool_count} tools`;
    out.className = 'ok';
    out.dataset.outcome = 'added';
    form.reset();
    showTransport();
  } catch (error) {
    out.textContent = errorText(error);
    out.className = 'error';
    out.dataset.outcome = error.code ?? 'error';
  } finally {
    submit.disabled = false;
  }
});

async function act(action, name, out) {
  if (action === 'remove' && !window.confirm(`Remove backend '${name}'? It stays removed after a restart of the gateway.`)) return;
  out.textContent = `${action}…`;
  try {
    await api('POST', `/server/${action}`, { name });
    out.textContent = '';
  } catch (error) {
    out.textContent = errorText(error);
  }
}

on('servers', (servers) => {
  if (!state.admin) return;
  // Rows are kept by name so an outcome stays while the list refreshes.
  const rows = new Map([...list.children].map((li) => [li.dataset.backend, li]));
  list.replaceChildren(
    ...servers.map((s) => {
      let li = rows.get(s.name);
      const key = `${s.status}:${s.enabled}`;
      if (li !== undefined && li.dataset.key === key) return li;
      const out = el('output', li?.querySelector('output')?.textContent ?? '', 'error');
      const toggle = s.enabled
        ? Object.assign(
            button('disable', () => act('stop', s.name, out)),
            { title: 'POST /server/stop' },
          )
        : Object.assign(
            button('enable', () => act('start', s.name, out)),
            { title: 'POST /server/start' },
          );
      toggle.dataset.action = s.enabled ? 'disable' : 'enable';
      const remove = button('remove', () => act('remove', s.name, out));
      remove.dataset.action = 'remove';
      li = el('li', undefined, undefined, [
        el('code', s.name),
        el('span', ` ${s.origin} · ${s.enabled ? 'enabled' : 'disabled'} · ${s.status} `, 'muted'),
        toggle,
        remove,
        out,
      ]);
      li.dataset.backend = s.name;
      li.dataset.key = key;
      return li;
    }),
  );
});

showTransport();
