// Resolve hook: `fs` / `node:fs` imported from anywhere except the shim itself
// resolves to fs-with-glob.mjs, which adds globSync on Node 20.
const SHIM = new URL('./fs-with-glob.mjs', import.meta.url).href;
export async function resolve(specifier, context, next) {
  if ((specifier === 'fs' || specifier === 'node:fs') && context.parentURL !== SHIM) {
    return { url: SHIM, shortCircuit: true };
  }
  return next(specifier, context);
}
