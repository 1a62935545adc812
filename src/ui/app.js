// The stonegate dashboard: plain browser JavaScript, no build step, no
// dependencies. It reads the gateway's REST API with the bearer token kept
// in sessionStorage (asked for once, when a request answers 401), and the
// live call feed from GET /log/stream read with fetch and a stream reader —
// EventSource cannot send an Authorization header. Everything the gateway
// sends is put into the page as text, never as HTML. The panels of #33
// live in their own modules (kit.js holds what they share).

import { openDetail } from './backend-detail.js';
import { $, api, askToken, button, el, HttpError, headers, notice, oauthText, on, pill, publish, setToken, state } from './kit.js';
import './charts.js';
import './manage.js';
import { tryTool } from './playground.js';

const REFRESH_MS = 2000;
const FEED_MAX = 200;
const SPARK_POINTS = 40;

/** Latest durations per backend, for the sparklines. */
const latencies = new Map();

function sparkline(values) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 90 20');
  if (values.length > 0) {
    const max = Math.max(...values, 1);
    const series = values.length === 1 ? [values[0], values[0]] : values; // one call: a flat line
    const step = 90 / (series.length - 1);
    const points = series.map((v, i) => `${(i * step).toFixed(1)},${(19 - (v / max) * 18).toFixed(1)}`);
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    line.setAttribute('points', points.join(' '));
    svg.append(line);
  }
  const last = values.at(-1);
  const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
  title.textContent = last === undefined ? 'no calls yet' : `last ${last} ms, max ${Math.max(...values)} ms`;
  svg.append(title);
  return svg;
}

async function act(button, action, name) {
  button.disabled = true;
  try {
    await api('POST', `/server/${action}`, { name });
    notice('');
  } catch (error) {
    notice(error.status === 403 ? `${action} needs an admin token: ${error.message}` : `${action} ${name}: ${error.message}`);
  } finally {
    button.disabled = false;
    refresh();
  }
}

/** A backend's protocol era (#24): `modern`/`legacy`, `(auto)` when the backend was asked, `-` while not yet. */
function eraText(protocol) {
  if (!protocol) return '-';
  const era = protocol.era ?? '-';
  return protocol.how === 'configured' ? era : `${era} (auto)`;
}

function renderBackends(servers) {
  const body = $('backends').tBodies[0];
  body.replaceChildren(
    ...servers.map((s) => {
      // The lifecycle buttons are an admin's: an agent token gets none (#33).
      const buttons = (state.admin ? ['restart', 'stop', 'start', 'reset'] : []).map((action) => {
        const b = el('button', action, 'admin-only');
        b.type = 'button';
        b.dataset.action = action;
        b.addEventListener('click', () => act(b, action, s.name));
        if (action === 'reset') {
          // reset closes an open circuit by hand (POST /server/reset): only then is there something to do.
          b.title = 'close the circuit (the backend was fixed)';
          b.disabled = s.circuit === 'closed';
        }
        return b;
      });
      const open = el('button', s.name, 'link');
      open.type = 'button';
      open.title = 'details: history, config, tools';
      open.addEventListener('click', () => openDetail(s.name));
      const oauth = oauthText(s);
      const row = el('tr', undefined, undefined, [
        el('td', undefined, undefined, [open]),
        el('td', undefined, undefined, oauth === null ? [pill(s.status)] : [pill(s.status), el('small', ` ${oauth}`, 'oauth')]),
        el('td', eraText(s.protocol), 'era'),
        el('td', undefined, undefined, [pill(s.circuit)]),
        el('td', `${s.pool.active}/${s.pool.size} busy, ${s.pool.inflight} in flight${s.pool.pending > 0 ? `, ${s.pool.pending} waiting` : ''}`),
        el('td', s.restarts),
        el('td', s.tool_count),
        el('td', s.total_calls),
        el('td', `${(s.error_rate * 100).toFixed(1)}%`),
        el('td', undefined, undefined, [sparkline(latencies.get(s.name) ?? [])]),
        el('td', undefined, undefined, buttons),
      ]);
      row.dataset.backend = s.name;
      row.dataset.status = s.status;
      row.dataset.circuit = s.circuit;
      row.dataset.era = s.protocol?.era ?? '';
      row.dataset.pid = s.pid ?? '';
      row.title = [s.pid ? `pid ${s.pid}` : '', s.last_error ?? ''].filter(Boolean).join(' — ');
      return row;
    }),
  );
}

function renderHealth(h) {
  const node = $('health');
  node.className = `pill state-${h.status}`;
  node.textContent = `${h.status} · ${h.backends_healthy}/${h.backends_total} backends · ${h.circuits_open} circuits open · v${h.version}`;
  // The last reload of the config file (#28): its outcome, revision and time; GET /config says why a file was refused.
  const reload = h.reload;
  $('reload').hidden = reload === undefined;
  if (reload !== undefined) {
    const why = reload.status === 'ok' ? '' : ` — ${state.config?.reload?.error ?? 'GET /config shows why'}`;
    $('reload').className = `pill state-${reload.status === 'ok' ? 'ok' : 'error'}`;
    $('reload').textContent =
      `config ${reload.status}${reload.revision ? ` · ${String(reload.revision).slice(0, 8)}` : ''}${reload.at ? ` · ${new Date(reload.at).toLocaleTimeString()}` : ''}${why}`;
  }
}

/** Whether the token is an admin's: GET /config answers an admin (or anyone without auth), refuses others (403). */
async function probeAdmin() {
  if (state.admin === false) return; // asked once per token (a new token resets it); an admin's is read again for the reload's reason
  try {
    publish('config', await api('GET', '/config'));
    publish('admin', true);
  } catch (error) {
    if (error.status === 403) publish('admin', false);
  }
}

function renderAsync(calls) {
  const body = $('async').tBodies[0];
  if (calls.length === 0) {
    body.replaceChildren(el('tr', undefined, undefined, [Object.assign(el('td', 'none', 'muted'), { colSpan: 6 })]));
    return;
  }
  body.replaceChildren(
    ...calls.map((c) => {
      const progress = c.progress
        ? `${c.progress.progress}${c.progress.total ? `/${c.progress.total}` : ''}${c.progress.message ? ` ${c.progress.message}` : ''}`
        : '';
      return el('tr', undefined, undefined, [
        el('td', c.call_id),
        el('td', `${c.server}/${c.tool}`),
        el('td', undefined, undefined, [pill(c.status)]),
        el('td', c.caller ?? '—'),
        el('td', new Date(c.submitted_at).toLocaleTimeString()),
        el('td', progress),
      ]);
    }),
  );
}

// The coordination section is coord.js's: it follows /coord/events rather than this refresh.

let refreshing = false;
async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    // Each panel is drawn as soon as its answer is in (#33: time to first render); the admin buttons come when the probe says so.
    await Promise.all([
      api('GET', '/health').then(renderHealth),
      api('GET', '/server/list').then((list) => {
        renderBackends(list.servers);
        publish('servers', list.servers);
      }),
      api('GET', '/call?state=active').then((calls) => renderAsync(calls.calls)),
      probeAdmin(),
    ]);
    if ($('notice').textContent.startsWith('Cannot reach')) notice('');
  } catch (error) {
    if (error instanceof HttpError) {
      if (error.status !== 401) notice(error.message);
    } else notice(`Cannot reach the gateway: ${error.message}`);
  } finally {
    refreshing = false;
  }
}

function addCall(record) {
  const series = latencies.get(record.server) ?? [];
  series.push(record.duration_ms);
  if (series.length > SPARK_POINTS) series.shift();
  latencies.set(record.server, series);
  const row = el('li', undefined, 'call', [
    el('span', new Date(record.time).toLocaleTimeString()),
    el('span', `${record.agent ? `${record.agent} → ` : ''}${record.server}/${record.tool}`),
    el('span', undefined, undefined, [pill(record.code ?? record.status, record.status)]),
    el('span', `${record.duration_ms < 10 ? record.duration_ms.toFixed(1) : Math.round(record.duration_ms)} ms`),
  ]);
  row.dataset.server = record.server;
  row.dataset.tool = record.tool;
  row.dataset.status = record.status;
  const feed = $('feed');
  feed.prepend(row);
  while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
}

/** Reads GET /log/stream (Server-Sent Events) with fetch, so the token goes in a header; reconnects. */
async function follow() {
  for (;;) {
    try {
      const response = await fetch('/log/stream?backlog=50', { headers: headers({ accept: 'text/event-stream' }) });
      if (response.status === 401) askToken();
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        $('feed-state').textContent = `(${body.code ?? response.status}: ${body.error ?? 'stream refused'})`;
      } else {
        $('feed-state').textContent = '(live)';
        $('feed').replaceChildren(); // the backlog refills it
        latencies.clear();
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = /^event: ?(.*)$/m.exec(block)?.[1];
            const data = block
              .split('\n')
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(5).replace(/^ /, ''))
              .join('\n');
            if (event === 'call' && data !== '') addCall(JSON.parse(data));
          }
        }
        $('feed-state').textContent = '(reconnecting…)';
      }
    } catch (error) {
      $('feed-state').textContent = `(disconnected: ${error.message})`;
    }
    await new Promise((resolve) => setTimeout(resolve, REFRESH_MS));
  }
}

let searchTimer;
async function search() {
  const query = $('search').value.trim();
  if (query === '') {
    $('results').replaceChildren();
    return;
  }
  try {
    const found = await api('GET', `/discover?limit=15&query=${encodeURIComponent(query)}`);
    $('results').replaceChildren(
      ...found.tools.map((t) =>
        el('li', undefined, undefined, [
          el('code', t.exposed_name ?? `${t.server}/${t.name}`),
          el('span', ` score ${t.score} `, 'muted'),
          button('try', () => tryTool(t.exposed_name), 'try'), // #33: opens it in the playground
          el('p', (t.description ?? '').split('\n')[0]),
        ]),
      ),
    );
    if (found.tools.length === 0) $('results').replaceChildren(el('li', 'no tool matches', 'muted'));
  } catch (error) {
    $('results').replaceChildren(el('li', error.message, 'muted'));
  }
}

$('search').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(search, 200);
});
$('token-button').addEventListener('click', askToken);
$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  setToken($('token-input').value.trim());
  publish('admin', null);
  $('token-input').value = '';
  $('token-form').hidden = true;
  notice('');
  refresh();
  search();
});
$('token-forget').addEventListener('click', () => {
  setToken(undefined);
  $('token-form').hidden = true;
  location.reload();
});

on('admin', () => renderBackends(state.servers));
refresh();
setInterval(refresh, REFRESH_MS);
follow();
