// The dashboard's shared pieces: the token, requests to the gateway, DOM
// builders (text only, never HTML), and what the page knows of its reader
// (whether the token is an admin's) and of the backends, which the panels
// subscribe to. No dependencies; every module of the page imports this one.

const TOKEN_KEY = 'stonegate.token';

export const $ = (id) => document.getElementById(id);

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function setToken(value) {
  if (value === undefined) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, value);
}

export function headers(extra = {}) {
  const t = token();
  return t === '' ? extra : { ...extra, authorization: `Bearer ${t}` };
}

export class HttpError extends Error {
  constructor(status, body) {
    super(body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
    this.body = body;
  }
}

/** A JSON request to the gateway; 401 opens the token form. */
export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) askToken();
  if (!response.ok) throw new HttpError(response.status, data);
  return data;
}

/** An error as the API gave it: `CODE: message`. */
export function errorText(error) {
  return error.code ? `${error.code}: ${error.message}` : error.message;
}

export function notice(text) {
  $('notice').textContent = text;
}

export function askToken() {
  $('token-form').hidden = false;
  $('token-input').focus();
}

/** Builds an element with text (never HTML) and optional class and children. */
export function el(tag, text, className, children = []) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  for (const child of children) node.append(child);
  return node;
}

/** A button with its click handler. */
export function button(text, onClick, className) {
  const b = el('button', text, className);
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes. */
export function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

/** A colored label: `text` shown, colored by `state` (default: the text itself). */
export function pill(text, state = text) {
  return el('span', text, `pill state-${String(state).replace(/_/g, '-')}`);
}

/** A duration for people: 0.4 ms, 12 ms, 1.5 s. */
export function ms(value) {
  if (value === null || value === undefined) return '—';
  if (value < 10) return `${Number(value).toFixed(1)} ms`;
  if (value < 10_000) return `${Math.round(value)} ms`;
  return `${(value / 1000).toFixed(1)} s`;
}

/**
 * What the page knows: `admin` is true once GET /config answered (an
 * admin token, or no auth), false once it was refused, null before;
 * `servers` the last GET /server/list rows. Panels subscribe with on().
 */
export const state = { admin: null, servers: [], config: null };
const listeners = { servers: [], admin: [], config: [] };

export function on(what, listener) {
  listeners[what].push(listener);
}

export function publish(what, value) {
  const changed = state[what] !== value;
  state[what] = value;
  if (what === 'admin') {
    // Admin controls (class admin-only) show only for an admin token.
    document.body.classList.toggle('is-admin', value === true);
    if (!changed) return;
  }
  for (const listener of listeners[what]) listener(value);
}

/** A backend's OAuth status in words, with what to do when it needs authorization. */
export function oauthText(server) {
  const oauth = server.oauth;
  if (oauth === undefined) return null;
  if (server.status !== 'needs_auth' && oauth.status !== 'needs_auth') return `oauth ${oauth.grant}: ${oauth.status}`;
  return oauth.grant === 'authorization_code'
    ? `needs_auth: run \`stonegate auth login ${server.name}\``
    : 'needs_auth: the authorization server refused the client; check client_id/secret';
}
