import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../../kit/loopback.js';

describe('the loopback rule', () => {
  it('takes IPv4 literals in 127/8, ::1, ::ffff:127.x.y.z (either form), localhost and *.localhost', () => {
    const loopback = [
      '127.0.0.1',
      '127.0.0.2',
      '127.255.255.254',
      '127.1.20.200',
      'localhost',
      'LOCALHOST',
      'app.localhost',
      'a.b-c.localhost',
      '::1',
      '[::1]',
      '::ffff:127.0.0.1',
      '[::ffff:127.0.0.1]',
      '::ffff:7f00:1',
      '[::ffff:7f00:1]',
      '[::ffff:7fff:ffff]',
    ];
    for (const h of loopback) expect(isLoopbackHost(h), h).toBe(true);
  });

  it('refuses every other spelling: names that start with 127., short and numeric forms, octal and hex, trailing dots', () => {
    const names = [
      '127.0.0.1.attacker.example',
      '127.0.0.1.example',
      '127.attacker.example',
      '127.1',
      '127.0.1',
      '2130706433',
      '0x7f.1',
      '0x7f000001',
      '0177.0.0.1',
      '127.0.0.01',
      '127.000.000.001',
      '127.0.0.256',
      '127.0.0.1.',
      'localhost.',
      'localhost.attacker.example',
      'attacker-localhost',
      'x.localhost.example',
      '.localhost',
      'a..localhost',
      '::ffff:128.0.0.1',
      '::ffff:8000:1',
      '::2',
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '128.0.0.1',
      'gw.example.com',
      '',
      '[]',
      '[127.0.0.1]',
    ];
    for (const h of names) expect(isLoopbackHost(h), h).toBe(false);
  });
});
