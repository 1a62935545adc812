// A form generated from a tool's JSON Schema (its inputSchema): strings,
// numbers, integers, booleans, enums, arrays and nested objects get their own
// inputs; anything else (anyOf of several types, a map without properties,
// a schema it does not know) a JSON text box. schemaForm() gives the node and
// read(), which returns the arguments object or throws naming the field.

import { button, el } from './kit.js';

const UNSET = Symbol('unset');
/** A required string left empty: sent as "", but it does not make an optional nested object worth sending. */
const EMPTY = Symbol('empty');
const plain = (v) => (v === EMPTY ? '' : v);

/** Follows a local $ref (#/$defs/…, #/definitions/…); a nullable anyOf/oneOf of one type is that type. */
function resolve(schema, root) {
  let s = schema ?? {};
  for (let i = 0; i < 10 && typeof s.$ref === 'string' && s.$ref.startsWith('#/'); i += 1) {
    s =
      s.$ref
        .slice(2)
        .split('/')
        .reduce((node, key) => node?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], root) ?? {};
  }
  const options = s.anyOf ?? s.oneOf;
  if (Array.isArray(options)) {
    const real = options.filter((o) => o?.type !== 'null');
    if (real.length === 1) return { ...real[0], description: s.description ?? real[0].description, default: s.default ?? real[0].default };
  }
  return s;
}

function typeOf(schema) {
  if (Array.isArray(schema.enum) || 'const' in schema) return 'enum';
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  if (type === undefined && schema.properties) return 'object';
  return type;
}

/** A labelled row: the label names the field, its description is the title. */
function labelled(name, schema, required, input) {
  const label = el('label', undefined, 'field', [el('span', `${name}${required ? ' *' : ''}`, 'field-name'), input]);
  if (schema.description) label.title = schema.description;
  return label;
}

function jsonBox(path, schema) {
  const box = el('textarea', undefined, 'json');
  box.name = path;
  box.rows = 2;
  box.spellcheck = false;
  box.placeholder = 'JSON';
  if (schema.default !== undefined) box.value = JSON.stringify(schema.default);
  return {
    node: box,
    read: () => {
      if (box.value.trim() === '') return UNSET;
      try {
        return JSON.parse(box.value);
      } catch (error) {
        throw new Error(`${path}: not JSON (${error.message})`);
      }
    },
  };
}

/** One input for `schema` at `path`; required fields are sent even when empty (a string as ""). */
function input(path, schema, required, root) {
  const s = resolve(schema, root);
  const type = typeOf(s);
  if (type === 'enum') {
    const values = Array.isArray(s.enum) ? s.enum : [s.const];
    const select = el('select');
    select.name = path;
    if (!required || s.default === undefined) select.append(el('option', '—'));
    values.forEach((v, i) => {
      const option = el('option', typeof v === 'string' ? v : JSON.stringify(v));
      option.value = String(i);
      if (JSON.stringify(v) === JSON.stringify(s.default)) option.selected = true;
      select.append(option);
    });
    return { node: select, read: () => (select.value === '—' || select.value === '' ? UNSET : values[Number(select.value)]) };
  }
  if (type === 'string') {
    const text = el('input');
    text.name = path;
    text.autocomplete = 'off';
    if (s.default !== undefined) text.value = String(s.default);
    if (s.format) text.placeholder = s.format;
    return { node: text, read: () => (text.value === '' ? (required ? EMPTY : UNSET) : text.value) };
  }
  if (type === 'number' || type === 'integer') {
    const num = el('input');
    num.type = 'number';
    num.name = path;
    num.step = type === 'integer' ? '1' : 'any';
    if (s.minimum !== undefined) num.min = String(s.minimum);
    if (s.maximum !== undefined) num.max = String(s.maximum);
    if (s.default !== undefined) num.value = String(s.default);
    return {
      node: num,
      read: () => {
        if (num.value === '') return UNSET;
        const n = Number(num.value);
        if (!Number.isFinite(n) || (type === 'integer' && !Number.isInteger(n)))
          throw new Error(`${path}: not ${type === 'integer' ? 'an integer' : 'a number'}`);
        return n;
      },
    };
  }
  if (type === 'boolean') {
    const select = el('select');
    select.name = path;
    for (const option of required ? ['false', 'true'] : ['—', 'false', 'true']) select.append(el('option', option));
    if (s.default !== undefined) select.value = String(s.default);
    return { node: select, read: () => (select.value === '—' ? UNSET : select.value === 'true') };
  }
  if (type === 'object' && s.properties && typeof s.properties === 'object') return objectFields(path, s, root);
  if (type === 'array' && s.items && typeof s.items === 'object' && !Array.isArray(s.items)) return arrayFields(path, s, root);
  return jsonBox(path, s);
}

/** A fieldset with one row per property. */
function objectFields(path, schema, root) {
  const required = new Set(schema.required ?? []);
  const box = el('fieldset', undefined, 'object');
  if (path !== '') box.append(el('legend', path.split('.').at(-1)));
  const fields = Object.entries(schema.properties).map(([key, sub]) => {
    const field = input(path === '' ? key : `${path}.${key}`, sub, required.has(key), root);
    box.append(field.node.tagName === 'FIELDSET' ? field.node : labelled(key, resolve(sub, root), required.has(key), field.node));
    return [key, field];
  });
  return {
    node: box,
    read: () => {
      const value = {};
      let touched = false;
      for (const [key, field] of fields) {
        const v = field.read();
        if (v === UNSET) {
          if (required.has(key) && path === '') throw new Error(`${key} is required`);
          continue;
        }
        if (v !== EMPTY) touched = true;
        value[key] = plain(v);
      }
      // An optional nested object nobody filled in is left out.
      return path !== '' && !touched ? UNSET : value;
    },
  };
}

/** A list of item inputs with add and remove buttons. */
function arrayFields(path, schema, root) {
  const box = el('fieldset', undefined, 'array');
  box.append(el('legend', `${path.split('.').at(-1)} (list)`));
  const list = el('div', undefined, 'items');
  const items = [];
  const add = () => {
    const field = input(`${path}.${items.length}`, schema.items, true, root);
    const row = el('div', undefined, 'item', [field.node]);
    const entry = { field, row };
    row.append(
      button('−', () => {
        items.splice(items.indexOf(entry), 1);
        row.remove();
      }),
    );
    items.push(entry);
    list.append(row);
  };
  box.append(list, button('+ item', add, 'add-item'));
  if (Array.isArray(schema.default)) for (const _ of schema.default) add();
  return {
    node: box,
    read: () => {
      if (items.length === 0) return UNSET;
      return items
        .map((i) => i.field.read())
        .filter((v) => v !== UNSET)
        .map(plain);
    },
  };
}

/** The form of a tool's input schema: {node, read()}; read() throws an Error naming the field at fault. */
export function schemaForm(schema) {
  const root = schema ?? {};
  const s = resolve(root, root);
  if (typeOf(s) === 'object' && s.properties && typeof s.properties === 'object') {
    if (Object.keys(s.properties).length === 0) return { node: el('p', 'this tool takes no arguments', 'muted'), read: () => ({}) };
    return objectFields('', s, root);
  }
  // A schema the form does not know: its arguments as JSON.
  const box = jsonBox('arguments', {});
  return {
    node: box.node,
    read: () => {
      const value = box.read();
      return value === UNSET ? {} : value;
    },
  };
}
