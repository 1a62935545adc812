import { execFileSync } from 'node:child_process';
import { type Browser, chromium } from 'playwright-core';

/** Debian's chromium, when installed (.ci/run installs it); never a downloaded browser. */
export function findChromium(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Warns (or, under CI=true, fails) when chromium is missing; returns its path. */
export function chromiumOrSkip(file: string): string | undefined {
  const found = findChromium();
  if (found === undefined) {
    if (process.env.CI === 'true') throw new Error(`chromium is not installed: ${file} needs it (apt-get install -y chromium; .ci/run does this)`);
    console.warn(`${file}: skipped — chromium is not installed (apt-get install -y chromium)`);
  }
  return found;
}

/** Headless chromium with the flags the dashboard tests use. */
export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
