import { isSecretKey, maskSecrets, maskUrlCredentials } from '../../lib/secrets';

describe('the secret rule', () => {
  it.each([
    'secret',
    'password',
    'passwd',
    'passphrase',
    'token',
    'authToken',
    'credentials',
    'key',
    'apiKey',
    'privateKey',
    'REDIS_PASSWORD',
    'sharedSecretFile',
  ])('%s is a secret field', (name) => expect(isSecretKey(name)).toBe(true));

  it.each(['keyPrefix', 'username', 'host', 'caFile', 'url', 'keys', 'monkeys_count'])('%s is not', (name) => expect(isSecretKey(name)).toBe(false));
});

describe('maskUrlCredentials', () => {
  it.each([
    ['redis://app:Pa55@r:6379/0', 'redis://app:***@r:6379/0'],
    ['redis://:Pa55@r', 'redis://:***@r'],
    ['rediss://app@r', 'rediss://app@r'], // a user name alone is not a secret
    ['redis://r:6379', 'redis://r:6379'],
    ['redis://app:P@ss@r/0', 'redis://app:***@r/0'], // unencoded '@' in the password
    ['redis://app:Pa/55@r', 'redis://app:***@r'], // unencoded '/' in the password
    ['redis://r/0?password=Pa55&db=1', 'redis://r/0?password=***&db=1'],
    ['redis://app:Pa55@r/0?x=a@b', 'redis://app:***@r/0?x=a@b'],
    ['dial redis://app:Pa55@r and http://u:Pw@h/x then stop', 'dial redis://app:***@r and http://u:***@h/x then stop'],
    ['no url here: user:pass@host', 'no url here: user:pass@host'],
  ])('%s → %s', (input, masked) => expect(maskUrlCredentials(input)).toBe(masked));
});

describe('maskSecrets', () => {
  it('masks secret fields at any depth and URLs in strings, and copies the rest', () => {
    const input = { a: [{ host: 'h', secret: 'S1', deeper: { password: { nested: 'S2' } } }], url: 'redis://u:S3@h', keyPrefix: 'k:', n: 1 };
    expect(maskSecrets(input)).toEqual({ a: [{ host: 'h', secret: '***', deeper: { password: '***' } }], url: 'redis://u:***@h', keyPrefix: 'k:', n: 1 });
    expect(input.a[0].secret).toBe('S1');
  });

  it('masks the extra top-level names it is given', () => {
    expect(maskSecrets({ prot: 'S', host: 'h' }, ['prot'])).toEqual({ prot: '***', host: 'h' });
  });

  it('prints a value used twice (a YAML alias) twice, and a cycle once', () => {
    const shared = { host: 'h' };
    const cyclic: Record<string, unknown> = { name: 'c' };
    cyclic.self = cyclic;
    expect(maskSecrets({ x: shared, y: shared, cyclic })).toEqual({ x: { host: 'h' }, y: { host: 'h' }, cyclic: { name: 'c', self: '[circular]' } });
  });
});
