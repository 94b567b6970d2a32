import { DEFAULT_EVENT_COUNT, DEFAULT_WAIT_S, HELP, USAGE, parseCommandLine, programFor } from '../../lib/cli/args';
import { CliError, EXIT } from '../../lib/cli/exit';

function usageError(argv: string[]): CliError {
  try {
    parseCommandLine(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.USAGE);
    return err as CliError;
  }
  throw new Error(`no usage error for ${argv.join(' ')}`);
}

describe('parseCommandLine', () => {
  it('parses each command with its defaults', () => {
    expect(parseCommandLine(['status'])).toEqual({ kind: 'status', config: undefined, json: false });
    expect(parseCommandLine(['calls', '--instance', 'node-a', '--json'])).toEqual({
      kind: 'calls',
      config: undefined,
      json: true,
      instance: 'node-a',
      target: undefined,
    });
    expect(parseCommandLine(['hangup', 'abc@h;t1'])).toEqual({
      kind: 'hangup',
      config: undefined,
      call: 'abc@h;t1',
      waitMs: DEFAULT_WAIT_S * 1000,
      all: false,
    });
    expect(parseCommandLine(['events'])).toEqual({ kind: 'events', config: undefined, json: false, follow: false, count: DEFAULT_EVENT_COUNT });
    expect(parseCommandLine(['events', '-f', '-n', '5'])).toMatchObject({ follow: true, count: 5 });
  });

  it('drain-target / undrain-target take one target id', () => {
    expect(parseCommandLine(['drain-target', 'udp:10.0.0.1:5060'])).toEqual({ kind: 'drain-target', config: undefined, target: 'udp:10.0.0.1:5060' });
    expect(parseCommandLine(['undrain-target', 'tls:[2001:db8::1]:5061'])).toEqual({
      kind: 'undrain-target',
      config: undefined,
      target: 'tls:[2001:db8::1]:5061',
    });
    expect(parseCommandLine(['drain-target', 'tcp:sbc1.example.com:5060'])).toMatchObject({ target: 'tcp:sbc1.example.com:5060' });
    expect(usageError(['drain-target']).message).toContain('missing the target id');
    expect(usageError(['drain-target', '10.0.0.1:5060']).message).toContain('expected a target id');
    expect(usageError(['undrain-target', 'udp:10.0.0.1:5060', 'x']).message).toContain('unexpected argument "x"');
  });

  it('takes --config before or after the command', () => {
    expect(parseCommandLine(['--config', 'a.yaml', 'status'])).toMatchObject({ kind: 'status', config: 'a.yaml' });
    expect(parseCommandLine(['calls', '-c', 'b.yaml', '--target', 'udp:10.0.0.1:5060'])).toMatchObject({ config: 'b.yaml', target: 'udp:10.0.0.1:5060' });
  });

  it('reads --wait in seconds, fractions allowed', () => {
    expect(parseCommandLine(['hangup', 'x', '--wait', '1.5', '--all'])).toMatchObject({ waitMs: 1500, all: true });
    expect(usageError(['hangup', 'x', '--wait', '0']).message).toContain('--wait: found "0"');
    expect(usageError(['hangup', 'x', '--wait', 'soon']).message).toContain('--wait: found "soon"');
  });

  it('takes a Call-ID that starts with "-" after --', () => {
    expect(parseCommandLine(['hangup', '--', '-odd@h'])).toMatchObject({ call: '-odd@h' });
  });

  it('answers --help, per command help and --version', () => {
    expect(parseCommandLine(['--help'])).toEqual({ kind: 'help', text: USAGE });
    expect(parseCommandLine(['help'])).toEqual({ kind: 'help', text: USAGE });
    expect(parseCommandLine(['help', 'hangup'])).toEqual({ kind: 'help', text: HELP.hangup });
    expect(parseCommandLine(['events', '--help'])).toEqual({ kind: 'help', text: HELP.events });
    expect(parseCommandLine(['--version'])).toEqual({ kind: 'version' });
    expect(parseCommandLine(['-v'])).toEqual({ kind: 'version' });
  });

  it('refuses, with the usage, a missing or unknown command', () => {
    expect(usageError([]).message).toBe(`sip-dispatcher: no command given\n\n${USAGE}`);
    expect(usageError(['frobnicate']).message).toBe(`sip-dispatcher: unknown command "frobnicate"\n\n${USAGE}`);
    expect(usageError(['help', 'frobnicate']).message).toContain('unknown command "frobnicate"');
  });

  it("refuses another command's option, with that command's usage", () => {
    const err = usageError(['status', '--follow']);
    expect(err.message).toContain("'--follow'");
    expect(err.message).toContain(HELP.status);
  });

  it('refuses missing and extra arguments and bad counts', () => {
    expect(usageError(['hangup']).message).toContain('hangup: missing the Call-ID or call key');
    expect(usageError(['hangup', 'a', 'b']).message).toContain('unexpected argument "b"');
    expect(usageError(['status', 'now']).message).toContain('unexpected argument "now"');
    expect(usageError(['events', '--count', '-1']).message).toContain('--count');
    expect(usageError(['events', '--count', 'ten']).message).toContain('--count: found "ten"');
    expect(usageError(['calls', '--instance']).message).toContain('--instance');
  });
});

describe('programFor (bin/sip-dispatcher.js: server or operator CLI)', () => {
  it('runs the server with no command, the command line as given', () => {
    expect(programFor([])).toEqual({ program: 'server', argv: [] });
    expect(programFor(['--config', 'x.yaml'])).toEqual({ program: 'server', argv: ['--config', 'x.yaml'] });
    expect(programFor(['-c', 'x.yaml'])).toEqual({ program: 'server', argv: ['-c', 'x.yaml'] });
  });

  it('runs the server for serve, wherever it stands, without the word serve', () => {
    expect(programFor(['serve', '--config', 'x.yaml'])).toEqual({ program: 'server', argv: ['--config', 'x.yaml'] });
    expect(programFor(['--config', 'x.yaml', 'serve'])).toEqual({ program: 'server', argv: ['--config', 'x.yaml'] });
    expect(programFor(['--config=serve', 'serve', '--help'])).toEqual({ program: 'server', argv: ['--config=serve', '--help'] });
  });

  it('runs the operator CLI for a command, help and version, the command line untouched', () => {
    for (const argv of [
      ['status'],
      ['-c', 'serve', 'calls', '--json'],
      ['hangup', 'serve'],
      ['events', '-f'],
      ['help', 'status'],
      ['--help'],
      ['-h'],
      ['--version'],
      ['-v'],
      ['reboot'],
    ]) {
      expect({ argv, r: programFor(argv) }).toEqual({ argv, r: { program: 'cli', argv } });
    }
  });
});
