/**
 * The production build (tsconfig.build.json, `npm run build`) and the package bin run from it, as an
 * installed package or the Docker image has them: dist/, bin/, package.json and node_modules, no
 * TypeScript sources.
 */
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { exitOf, killChild, parseJsonLine, REPO_ROOT, trackChild } from '../harness/app';
import { freeTcpPort } from '../harness/ports';
import { writeConfig } from '../helpers/dispatcher';
import { packageVersion } from '../../lib/version';

const run = promisify(execFile);
const TSC = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

async function tsc(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, [TSC, ...args], { cwd: REPO_ROOT, maxBuffer: 16 << 20 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Runs a bin, resolves with exit code, stdout, stderr (environment without SIPD_FROM_SOURCE). */
async function bin(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(SIPD_|REDIS_|DRACHTIO_)/.test(k)));
  const child = spawn(process.execPath, [file, ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // the exit code comes before the last output: wait for the pipes to close too
  const closed = new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  await exitOf(child);
  return { code: await closed, stdout, stderr };
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('production build', () => {
  // a scratch dir inside the repository (ignored: .tmp-*) so node_modules/@types resolves from it
  const scratch = mkdtempSync(join(REPO_ROOT, '.tmp-build-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('compiles apps/, lib/ and types/ only, without the jest types', async () => {
    const r = await tsc(['-p', 'tsconfig.build.json', '--listFilesOnly']);
    expect(r.code).toBe(0);
    const files = r.out.split('\n').filter(Boolean);
    const ours = files.filter((f) => !f.includes('/node_modules/')).map((f) => relative(REPO_ROOT, f));
    expect(ours.length).toBeGreaterThan(10);
    expect(ours.filter((f) => !/^(apps|lib)\/.*\.ts$|^types\/.*\.d\.ts$/.test(f))).toEqual([]);
    expect(ours).toContain('apps/sip-dispatcher/main.ts');
    expect(files.filter((f) => f.includes('@types/jest'))).toEqual([]);
  });

  it('rejects a jest global in a compiled file (it compiles under the test tsconfig)', async () => {
    const src = join(scratch, 'uses-describe.ts');
    writeFileSync(src, "describe('leak', () => undefined);\nexport {};\n");
    const withExtends = (base: string): string => {
      const file = join(scratch, `tsconfig.${base}`);
      writeFileSync(file, JSON.stringify({ extends: join(REPO_ROOT, base), compilerOptions: { noEmit: true }, include: [], files: [src] }));
      return file;
    };
    const build = await tsc(['-p', withExtends('tsconfig.build.json')]);
    expect(build.code).not.toBe(0);
    expect(build.out).toMatch(/Cannot find name 'describe'/);
    const tests = await tsc(['-p', withExtends('tsconfig.json')]);
    expect(tests).toEqual({ code: 0, out: '' });
  });

  describe('the bin from an installed layout (dist/, bin/, package.json; no sources)', () => {
    const pkg = join(scratch, 'pkg');
    const BIN = join(pkg, 'bin', 'sip-dispatcher.js');

    beforeAll(async () => {
      mkdirSync(join(pkg, 'bin'), { recursive: true });
      cpSync(join(REPO_ROOT, 'bin', 'sip-dispatcher.js'), BIN);
      cpSync(join(REPO_ROOT, 'package.json'), join(pkg, 'package.json'));
      symlinkSync(join(REPO_ROOT, 'node_modules'), join(pkg, 'node_modules'));
      const r = await tsc(['-p', 'tsconfig.build.json', '--outDir', join(pkg, 'dist')]);
      expect(r).toEqual({ code: 0, out: '' });
    }, 60000);

    it('emits JavaScript with source maps for apps/ and lib/, nothing else', () => {
      const files = walk(join(pkg, 'dist')).map((f) => relative(join(pkg, 'dist'), f));
      expect(files.filter((f) => !/^(apps|lib)\/.*\.js(\.map)?$/.test(f))).toEqual([]);
      for (const f of ['apps/sip-dispatcher/main.js', 'apps/dispatcher/main.js', 'apps/cli/main.js', 'lib/dispatcher.js', 'lib/dispatcher.js.map'])
        expect(files).toContain(f);
    });

    it('answers --version, --help and serve --help', async () => {
      expect(await bin(BIN, ['--version'])).toEqual({ code: 0, stdout: `sip-dispatcher ${packageVersion()}\n`, stderr: '' });
      const help = await bin(BIN, ['--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^usage: sip-dispatcher \[--config <file>\] <command>/);
      expect((await bin(BIN, ['serve', '--help'])).stdout).toMatch(/^usage: sip-dispatcher \[serve\] \[--config <file>\]\n/);
    });

    it('exits 78 on a bad config file, as the server', async () => {
      const r = await bin(BIN, ['--config', '/nonexistent/sipd.yaml']);
      expect(r).toEqual({ code: 78, stdout: '', stderr: 'B2B_ERR_CONFIG_READ: cannot read config file /nonexistent/sipd.yaml: ENOENT\n' });
    });

    it('runs the compiled server to "dispatcher started" without loading a dev dependency, and drains on SIGTERM (exit 0)', async () => {
      // production installs have no tsx, typescript or jest: fail the start if anything asks for one
      const blocker = join(scratch, 'no-dev-deps.js');
      writeFileSync(
        blocker,
        `const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (/^(tsx|typescript|ts-jest|jest|@jest\\/|esbuild)(\\/|$)/.test(request)) throw new Error('dev dependency loaded at run time: ' + request);
  return resolve.call(this, request, ...rest);
};
`,
      );
      const config = writeConfig({
        drachtio: { servers: [{ host: '127.0.0.1', port: await freeTcpPort(), secret: 'not-the-default' }] },
        redis: { url: `redis://127.0.0.1:${await freeTcpPort()}`, connectTimeoutMs: 50 },
        routes: [{ name: 'r', targets: [{ host: '10.0.0.1' }] }],
      });
      const child = spawn(process.execPath, ['--require', blocker, BIN, 'serve', '--config', config], { cwd: pkg, stdio: ['ignore', 'pipe', 'pipe'] });
      trackChild(child);
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const deadline = Date.now() + 15000;
      while (!out.split('\n').some((l) => parseJsonLine(l)?.msg === 'dispatcher started')) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no "dispatcher started" line:\n${out}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(await killChild(child, 'SIGTERM')).toBe(0);
      expect(out).toContain('"msg":"shutdown requested"');
    });

    it('without dist/ (and no sources) says to build, exit 70', async () => {
      const bare = join(scratch, 'bare');
      mkdirSync(join(bare, 'bin'), { recursive: true });
      cpSync(BIN, join(bare, 'bin', 'sip-dispatcher.js'));
      symlinkSync(join(REPO_ROOT, 'node_modules'), join(bare, 'node_modules'));
      expect(existsSync(join(bare, 'dist'))).toBe(false);
      const r = await bin(join(bare, 'bin', 'sip-dispatcher.js'), ['--version']);
      expect(r.code).toBe(70);
      expect(r.stderr).toContain('run `npm run build`');
    });
  });
});
