/** What a bench report names: the versions of the tools it ran and the commit it measured. */
import { execFileSync } from 'node:child_process';

export function versionOf(cmd: string, args: string[], re: RegExp): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
    return re.exec(out)?.[1] ?? out.trim().split('\n')[0];
  } catch (err) {
    const out = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`;
    return re.exec(out)?.[1] ?? 'unknown';
  }
}

export function gitDescribe(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** The drachtio-server a run used: the real one's version, or the emulator. */
export function drachtioVersionOf(kind: 'real' | 'emulator'): string {
  return kind === 'real' ? versionOf(process.env.DRACHTIO_BIN as string, ['--version'], /(v?\d+\.\d+\.\d+\S*)/) : 'emulator (test/emulator)';
}

/** The versions of the tools a run used besides drachtio-server. */
export function toolVersions(): { node: string; redis: string; sipp: string } {
  return {
    node: process.version,
    redis: versionOf('redis-server', ['--version'], /v=(\S+)/),
    sipp: versionOf('sipp', ['-v'], /SIPp (v[\w.-]*\w)/),
  };
}
