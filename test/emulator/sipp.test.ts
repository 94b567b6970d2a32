/**
 * Transaction-level behaviour of the drachtio server (emulator by default, the real binary when
 * DRACHTIO_BIN is set) checked with sipp 3.6.1: exit code 0 == the call completed as scripted,
 * and sipp's own scenario statistics for retransmission counts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freeUdpPort, startDrachtio, type DrachtioServer } from '../harness/drachtio';
import { connectSrf, type SrfLike, type SrfReq, type SrfRes } from './srf-types';
import { SDP, killAllSipp, parseSippScreen, runSipp } from './test-utils';

const SECRET = 'sipp-secret';
const SCENARIOS = path.resolve(__dirname, '..', 'scenarios');

describe('transaction behaviour (sipp)', () => {
  let server: DrachtioServer;
  let srf: SrfLike | undefined;
  let onInvite: (req: SrfReq, res: SrfRes) => void | Promise<void> = () => undefined;
  let tmp: string;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'emu-sipp-'));
    server = await startDrachtio({ secret: SECRET, loglevel: 'info' });
  });
  afterEach(() => {
    srf?.disconnect();
    srf = undefined;
    killAllSipp();
  });
  afterAll(async () => {
    killAllSipp();
    await server?.stop();
    if (!process.env.KEEP_SIPP_LOGS) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const connectApp = async (routeInvite = true): Promise<SrfLike> => {
    const c = await connectSrf(server.adminPort, SECRET);
    srf = c.srf;
    if (routeInvite) c.srf.invite((req, res) => void onInvite(req, res));
    return c.srf;
  };

  const sipp = async (scenario: string, extra: string[] = [], remote = true) => {
    const port = await freeUdpPort([server.sipPort]);
    const screen = path.join(tmp, `${scenario}.screen.log`);
    const args = ['-sf', path.join(SCENARIOS, scenario), '-i', '127.0.0.1', '-p', String(port), '-trace_screen', '-screen_file', screen, ...extra];
    if (remote) args.push(`${server.sipAddress}:${server.sipPort}`);
    return { port, run: () => runSipp(args, 20_000), screen: () => parseSippScreen(fs.existsSync(screen) ? fs.readFileSync(screen, 'utf8') : '') };
  };

  it('UAS side: the 200 OK is retransmitted while the caller does not ACK, then ACK and BYE complete the call', async () => {
    const app = await connectApp();
    const destroyed = new Promise<void>((resolve) => {
      onInvite = async (req, res) => {
        const dlg = await app.createUAS(req, res, { localSdp: SDP });
        dlg.on('destroy', () => resolve());
      };
    });
    const s = await sipp('emulator-uac-no-ack.xml');
    const result = await s.run();
    expect(result.code).toBe(0);
    const ok = s.screen().find((r) => r.label === '200' && r.direction === 'recv');
    expect(ok?.messages).toBe(1);
    expect(ok?.retrans).toBeGreaterThanOrEqual(1);
    await destroyed;
  });

  it('UAC side: an INVITE the app sends is retransmitted when the callee ignores it', async () => {
    const app = await connectApp(false);
    const s = await sipp('emulator-uas-ignore-first-invite.xml', [], false);
    const run = s.run();
    await new Promise((r) => setTimeout(r, 300));
    const dlg = await app.createUAC(`sip:callee@127.0.0.1:${s.port}`, { localSdp: SDP });
    await new Promise((r) => setTimeout(r, 200));
    await dlg.destroy();
    const result = await run;
    expect(result.code).toBe(0);
    const inv = s.screen().find((r) => r.label === 'INVITE' && r.direction === 'recv');
    expect(inv?.messages).toBe(1);
    expect(inv?.retrans).toBeGreaterThanOrEqual(1);
  });

  it('481 for a BYE on an unknown dialog', async () => {
    await connectApp();
    const s = await sipp('emulator-bye-unknown-dialog.xml');
    expect((await s.run()).code).toBe(0);
  });

  it('503 when no connected app routes INVITE', async () => {
    await connectApp(false);
    const s = await sipp('emulator-invite-503.xml');
    expect((await s.run()).code).toBe(0);
  });
});
