// The tool playground (#33 item 1): pick a tool of the catalog (GET /tools,
// the token's backends only), fill a form made from its input schema (or
// raw JSON), call it through POST /call with this tab's token — the same
// route, checks and scope as any REST caller — and see the result as an
// agent would: text, images, structured content, isError, or the error
// code, with the duration.

import { $, api, el, errorText, ms, on, pill } from './kit.js';
import { schemaForm } from './schema-form.js';

/** Exposed name → the tool as GET /tools lists it. */
const tools = new Map();
let form;
let current;
let catalogKey = '';

async function loadTools() {
  try {
    const listed = await api('GET', '/tools');
    tools.clear();
    for (const t of listed.tools) tools.set(t.exposed_name ?? `${t.server}__${t.name}`, t);
    $('play-tools').replaceChildren(...[...tools.keys()].sort().map((name) => Object.assign(el('option'), { value: name })));
    if (current === undefined) pick();
  } catch {
    // The backends panel shows why the gateway cannot be read.
  }
}

// The catalog changes with the backends' tool counts: list it again then.
on('servers', (servers) => {
  const key = servers.map((s) => `${s.name}:${s.tool_count}`).join(',');
  if (key === catalogKey) return;
  catalogKey = key;
  void loadTools();
});

function pick() {
  const tool = tools.get($('play-tool').value.trim());
  if (tool === current) return;
  current = tool;
  $('play-result').replaceChildren();
  $('play-form').hidden = tool === undefined;
  $('play-description').textContent = tool === undefined ? '' : (tool.description ?? '');
  if (tool === undefined) return;
  form = schemaForm(tool.parameters);
  $('play-fields').replaceChildren(form.node);
  $('play-raw').value = '{}';
  $('play-use-raw').checked = false;
  $('play-form').dataset.tool = $('play-tool').value.trim();
}

$('play-tool').addEventListener('input', pick);
$('play-tool').addEventListener('change', pick);
$('play-pick').addEventListener('submit', (event) => {
  event.preventDefault();
  pick();
});
// Opening the raw box starts it from what the form holds.
$('play-raw-box').addEventListener('toggle', () => {
  if (!$('play-raw-box').open || $('play-use-raw').checked) return;
  try {
    $('play-raw').value = JSON.stringify(form.read(), null, 2);
  } catch {
    // an unfinished form: keep the box as it is
  }
});

/** One content block as the agent gets it. */
function block(item) {
  if (item.type === 'text') return el('pre', item.text, 'text');
  if (item.type === 'image' && typeof item.data === 'string') {
    const img = el('img');
    img.alt = `image (${item.mimeType})`;
    img.src = `data:${item.mimeType};base64,${item.data}`;
    return img;
  }
  if (item.type === 'resource') {
    const r = item.resource ?? {};
    return el('div', undefined, 'resource', [
      el('code', r.uri ?? 'resource'),
      el('pre', r.text ?? `[${r.mimeType ?? 'binary'}, ${(r.blob ?? '').length} base64 chars]`),
    ]);
  }
  if (item.type === 'resource_link') return el('div', undefined, 'resource', [el('code', item.uri), el('span', ` ${item.name ?? ''}`, 'muted')]);
  // audio and what else a tool sends: its kind and size, not played (the page loads no media)
  return el('pre', `[${item.type}${item.mimeType ? ` ${item.mimeType}` : ''}${item.data ? `, ${item.data.length} base64 chars` : ''}]`, 'muted');
}

function showResult(outcome, elapsed) {
  const result = outcome.result ?? {};
  const failed = result.isError === true;
  const head = el('p', undefined, 'result-head', [
    pill(failed ? 'isError' : 'success', failed ? 'error' : 'success'),
    el('span', ` ${outcome.server}/${outcome.tool} · ${ms(outcome.duration_ms)} at the gateway · ${ms(elapsed)} round trip`),
  ]);
  const parts = [head, ...(result.content ?? []).map(block)];
  if (result.structuredContent !== undefined)
    parts.push(el('h3', 'structuredContent'), el('pre', JSON.stringify(result.structuredContent, null, 2), 'structured'));
  const box = $('play-result');
  box.dataset.status = failed ? 'isError' : 'success';
  box.replaceChildren(...parts);
}

function showError(error, elapsed) {
  const box = $('play-result');
  box.dataset.status = 'error';
  box.replaceChildren(
    el('p', undefined, 'result-head', [pill(error.code ?? `HTTP ${error.status ?? '?'}`, 'error'), el('span', ` ${ms(elapsed)} round trip`)]),
    el('pre', errorText(error), 'error'),
  );
}

$('play-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (current === undefined) return;
  let args;
  try {
    args = $('play-use-raw').checked ? JSON.parse($('play-raw').value || '{}') : form.read();
  } catch (error) {
    showError({ code: 'FORM', message: error.message });
    return;
  }
  const started = performance.now();
  $('play-call').disabled = true;
  try {
    showResult(await api('POST', '/call', { server: current.server, tool: current.name, arguments: args }), performance.now() - started);
  } catch (error) {
    showError(error, performance.now() - started);
  } finally {
    $('play-call').disabled = false;
  }
});

/** Opens a tool in the playground (the backend detail's tool list uses it). */
export function tryTool(exposed) {
  $('play-tool').value = exposed;
  pick();
  $('playground-panel').scrollIntoView({ block: 'start' });
}
