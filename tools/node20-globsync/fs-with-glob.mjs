// node:fs plus globSync (Node 22+) for Node 20. Only what
// @modelcontextprotocol/conformance 0.2.x uses: globSync('**/checks.json', { cwd }).
import fs from 'node:fs';
import path from 'node:path';

export * from 'node:fs';
export default fs;

// Glob -> RegExp for '**/', '**', '*', '?' and literals (no braces, no classes).
function toRegExp(pattern) {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export const globSync =
  typeof fs.globSync === 'function'
    ? fs.globSync
    : function globSync(pattern, options = {}) {
        const cwd = options.cwd ? String(options.cwd) : process.cwd();
        const res = (Array.isArray(pattern) ? pattern : [pattern]).map(toRegExp);
        const out = [];
        for (const rel of fs.readdirSync(cwd, { recursive: true })) {
          const posix = String(rel).split(path.sep).join('/');
          if (res.some((re) => re.test(posix))) out.push(String(rel));
        }
        return out;
      };
