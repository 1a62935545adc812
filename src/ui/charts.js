// Charts over time (#33 item 3): calls/s, p50/p95 latency and errors per
// backend over the last 15, 30 or 60 minutes, from GET /stats/history (a
// bounded ring in the gateway; steps of 10 s). Drawn as inline SVG here,
// no library: one line per backend, gaps where a step had no call.

import { $, api, el, errorText, ms, svg } from './kit.js';

const REFRESH_MS = 3000;
const COLORS = ['#3b6ea8', '#c0622b', '#2e8b57', '#8e44ad', '#b8860b', '#d6336c', '#17a2b8', '#6c757d'];
const W = 600;
const H = 150;
const PAD = { left: 46, right: 8, top: 8, bottom: 20 };
const colorOf = new Map();

function color(name) {
  if (!colorOf.has(name)) colorOf.set(name, COLORS[colorOf.size % COLORS.length]);
  return colorOf.get(name);
}

/** An SVG path through the values, broken where a value is null. */
function pathOf(values, max) {
  const step = (W - PAD.left - PAD.right) / Math.max(1, values.length - 1);
  const y = (v) => (H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom)).toFixed(1);
  let d = '';
  let pen = false;
  values.forEach((v, i) => {
    if (v === null) {
      pen = false;
      return;
    }
    d += `${pen ? 'L' : 'M'}${(PAD.left + i * step).toFixed(1)},${y(v)} `;
    pen = true;
  });
  // A lone point is drawn as a dot.
  return d.replace(/M([\d.]+),([\d.]+) (?!L)/g, (_m, x, yy) => `M${x},${yy} L${(Number(x) + 1.5).toFixed(1)},${yy} `);
}

/** One chart: lines [{name, values, dash, data}], a y axis in `format`, time labels at both ends. */
function chart(kind, title, lines, format, start, end) {
  const max = Math.max(1e-9, ...lines.flatMap((l) => l.values.filter((v) => v !== null)));
  const image = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title });
  for (const f of [0, 0.5, 1]) {
    const y = H - PAD.bottom - f * (H - PAD.top - PAD.bottom);
    image.append(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: 'grid' }));
    const label = svg('text', { x: PAD.left - 4, y: y + 4, 'text-anchor': 'end', class: 'axis' });
    label.textContent = format(max * f);
    image.append(label);
  }
  for (const [x, anchor, time] of [
    [PAD.left, 'start', start],
    [W - PAD.right, 'end', end],
  ]) {
    const label = svg('text', { x, y: H - 4, 'text-anchor': anchor, class: 'axis' });
    label.textContent = time.toLocaleTimeString();
    image.append(label);
  }
  for (const line of lines) {
    const path = svg('path', { d: pathOf(line.values, max), stroke: color(line.name), class: line.dash ? 'line dash' : 'line' });
    path.dataset.backend = line.name;
    for (const [key, value] of Object.entries(line.data ?? {})) path.dataset[key] = String(value);
    const tip = svg('title');
    tip.textContent = `${line.name}${line.dash ? ' p95' : ''}`;
    path.append(tip);
    image.append(path);
  }
  const figure = el('figure', undefined, 'chart-box', [el('figcaption', title), image]);
  figure.dataset.chart = kind;
  return figure;
}

function draw(history) {
  const names = Object.keys(history.backends).sort();
  const start = new Date(history.start);
  const end = new Date(start.getTime() + history.points * history.step_seconds * 1000);
  const step = history.step_seconds;
  if (names.length === 0) {
    $('charts').replaceChildren(el('p', 'no calls yet in this window', 'muted'));
    return;
  }
  const sum = (values) => values.reduce((n, v) => n + v, 0);
  const legend = el(
    'p',
    undefined,
    'legend',
    names.map((n) => {
      const key = el('span', `■ ${n} `);
      key.style.color = color(n);
      return key;
    }),
  );
  $('charts').replaceChildren(
    legend,
    chart(
      'calls',
      'calls/s',
      names.map((n) => {
        const s = history.backends[n];
        // The last step is still filling: its rate is over the seconds it has run, not the whole step.
        const running = Math.min(step, Math.max(1, (Date.now() - end.getTime()) / 1000 + step));
        return { name: n, values: s.calls.map((c, i) => c / (i === s.calls.length - 1 ? running : step)), data: { calls: sum(s.calls) } };
      }),
      (v) => v.toFixed(v < 10 ? 1 : 0),
      start,
      end,
    ),
    chart(
      'latency',
      'latency p50 (solid) and p95 (dashed)',
      names.flatMap((n) => [
        { name: n, values: history.backends[n].p50_ms },
        { name: n, values: history.backends[n].p95_ms, dash: true },
      ]),
      ms,
      start,
      end,
    ),
    chart(
      'errors',
      "errors per 10 s (the backend's own)",
      names.map((n) => ({ name: n, values: history.backends[n].errors, data: { errors: sum(history.backends[n].errors) } })),
      (v) => v.toFixed(0),
      start,
      end,
    ),
  );
}

let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  try {
    draw(await api('GET', `/stats/history?minutes=${$('charts-window').value}`));
    $('charts-state').textContent = '';
  } catch (error) {
    $('charts-state').textContent = `(${errorText(error)})`;
  } finally {
    busy = false;
  }
}

$('charts-window').addEventListener('change', refresh);
refresh();
setInterval(refresh, REFRESH_MS);
