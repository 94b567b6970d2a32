import { defaultSecretsInUse } from '../../lib/config/default-secret';
import { validateConfig } from '../../lib/config/load';

const routes = [{ name: 'r', targets: [{ host: '10.0.0.1' }] }];

describe('defaultSecretsInUse', () => {
  it('names each drachtio server left on the default secret, explicit or defaulted', () => {
    const config = validateConfig({
      drachtio: { servers: [{ host: 'a' }, { host: 'b', secret: 'Str0ng' }, { host: 'c', secret: 'cymru' }] },
      routes,
    });
    expect(defaultSecretsInUse(config)).toEqual(['drachtio.servers[0].secret', 'drachtio.servers[2].secret']);
  });

  it('names the outbound listener left on the default secret', () => {
    expect(defaultSecretsInUse(validateConfig({ drachtio: { mode: 'outbound', listen: { port: 9023 } }, routes }))).toEqual(['drachtio.listen.secret']);
  });

  it('is empty when every secret in use was changed', () => {
    expect(defaultSecretsInUse(validateConfig({ drachtio: { servers: [{ host: 'a', secret: 'Str0ng' }] }, routes }))).toEqual([]);
    expect(defaultSecretsInUse(validateConfig({ drachtio: { mode: 'outbound', listen: { port: 9023, secret: 'Str0ng' } }, routes }))).toEqual([]);
  });

  it('ignores what the mode does not use', () => {
    // outbound mode never connects to `servers`; inbound mode never listens
    expect(
      defaultSecretsInUse(validateConfig({ drachtio: { mode: 'outbound', servers: [{ host: 'a' }], listen: { port: 9023, secret: 'Str0ng' } }, routes })),
    ).toEqual([]);
    expect(defaultSecretsInUse(validateConfig({ drachtio: { servers: [{ host: 'a', secret: 'Str0ng' }], listen: { port: 9023 } }, routes }))).toEqual([]);
  });
});
