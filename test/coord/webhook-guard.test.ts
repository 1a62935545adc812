import { describe, expect, it } from 'vitest';
import { checkWebhookUrl, isPrivateAddress, publicOnlyLookup } from '../../backends/coord/webhook-guard.js';

describe('webhook guard', () => {
  it('classifies loopback, private, link-local, mapped and special addresses as private', () => {
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '224.0.0.1',
      'not-an-ip',
    ]) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111']) {
      expect(isPrivateAddress(address), address).toBe(false);
    }
  });

  it('accepts public IP literals without a lookup and refuses private ones', async () => {
    expect((await checkWebhookUrl('https://93.184.216.34/hook', false)).hostname).toBe('93.184.216.34');
    await expect(checkWebhookUrl('http://10.0.0.1/hook', false)).rejects.toThrow(/private, loopback or link-local/);
    await expect(checkWebhookUrl('http://[fe80::1]/hook', false)).rejects.toThrow(/private/);
  });

  it('fails a connect-time lookup that resolves to a private address', async () => {
    const lookup = publicOnlyLookup();
    const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => lookup('localhost', { all: true }, (err) => resolve(err)));
    expect(error?.code).toBe('EPRIVATE');
  });
});
