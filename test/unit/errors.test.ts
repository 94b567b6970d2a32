import { readFileSync } from 'node:fs';
import { ConfigError, DispatcherError, ERROR_CODES } from '../../lib/errors';

describe('error table', () => {
  const readme = readFileSync('README.md', 'utf8');

  it.each(Object.keys(ERROR_CODES))('%s is documented in the README error table', (code) => {
    expect(readme).toMatch(new RegExp(`^\\| \`${code}\` \\|`, 'm'));
  });

  it('codes follow B2B_ERR_<AREA>_<WHAT> (warnings: B2B_WARN_<AREA>_<WHAT>)', () => {
    for (const code of Object.keys(ERROR_CODES)) expect(code).toMatch(/^B2B_(ERR|WARN)_[A-Z]+_[A-Z_]+$/);
  });

  it('carries code, message and cause', () => {
    const cause = new Error('root');
    const err = new ConfigError('B2B_ERR_CONFIG_READ', 'cannot read x', [], { cause });
    expect(err).toBeInstanceOf(DispatcherError);
    expect(err.code).toBe('B2B_ERR_CONFIG_READ');
    expect(err.cause).toBe(cause);
    expect(new DispatcherError('B2B_ERR_NO_TARGET').message).toBe(ERROR_CODES.B2B_ERR_NO_TARGET);
  });
});
