import { callRows, renderCalls } from '../../lib/cli/calls';
import { eventJson, formatDuration, formatEventLine, formatFailed, formatTime, streamIdTime } from '../../lib/cli/format';
import { buildStatus, renderStatus, type TargetStatus } from '../../lib/cli/status';
import { formatTable, paint, useColour } from '../../lib/cli/table';
import { callIdOfKey, type LiveCall } from '../../lib/store/call-store';
import { toStreamEvent, type InstanceView } from '../../lib/store/cluster-store';

const T0 = Date.UTC(2025, 2, 1, 12, 0, 0); // 2025-03-01T12:00:00Z
const ESC = '\u001b[';

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [999, '0s'],
    [45_000, '45s'],
    [60_000, '1m00s'],
    [185_000, '3m05s'],
    [3_723_000, '1h02m03s'],
    [86_400_000 * 2 + 3 * 3_600_000 + 4 * 60_000 + 59_000, '2d03h04m'],
    [-5_000, '0s'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('formatTime and stream ids', () => {
  it('prints UTC ISO 8601 to the second, and - for an unknown time', () => {
    expect(formatTime(T0 + 5_123)).toBe('2025-03-01T12:00:05Z');
    expect(formatTime(undefined)).toBe('-');
    expect(formatTime(Number.NaN)).toBe('-');
    expect(formatTime(0)).toBe('-');
  });
  it('reads the time from the milliseconds part of a stream id', () => {
    expect(streamIdTime(`${T0 + 123}-7`)).toBe(T0 + 123);
  });
});

describe('formatFailed', () => {
  it('lists SIP statuses in order, then the named causes, skipping zeros', () => {
    expect(formatFailed({ timeout: 1, '503': 2, error: 3, '408': 1, 'no-answer': 0 })).toBe('408=1 503=2 error=3 timeout=1');
    expect(formatFailed({})).toBe('-');
  });
});

describe('event lines', () => {
  const answered = toStreamEvent([`${T0 + 42}-0`, ['type', 'answered', 'call', 'abc@h;t1', 'target', 'udp:10.0.0.1:5060', 'instance', 'node-a', 'route', 'r']]);

  it('parses a stream entry into type and fields', () => {
    expect(answered).toEqual({
      id: `${T0 + 42}-0`,
      type: 'answered',
      fields: { call: 'abc@h;t1', target: 'udp:10.0.0.1:5060', instance: 'node-a', route: 'r' },
    });
  });

  it('prints time, type (padded) and fields as key=value', () => {
    expect(formatEventLine(answered)).toBe('2025-03-01T12:00:00.042Z  answered  call=abc@h;t1 target=udp:10.0.0.1:5060 instance=node-a route=r');
    const ended = toStreamEvent([`${T0}-1`, ['type', 'ended', 'by', 'caller', 'durationMs', '61000']]);
    expect(formatEventLine(ended)).toBe('2025-03-01T12:00:00.000Z  ended     by=caller durationMs=61000');
  });

  it('quotes a value with blanks, quotes, = or nothing in it, so the line reads back unambiguously', () => {
    const ev = toStreamEvent([`${T0}-0`, ['type', 'released', 'note', 'a b', 'q', 'say "hi"', 'eq', 'x=y', 'empty', '']]);
    expect(formatEventLine(ev)).toBe('2025-03-01T12:00:00.000Z  released  note="a b" q="say \\"hi\\"" eq="x=y" empty=""');
  });

  it('gives --json its id, time, type and fields', () => {
    expect(eventJson(answered)).toEqual({ id: `${T0 + 42}-0`, time: '2025-03-01T12:00:00.042Z', type: 'answered', fields: answered.fields });
  });
});

describe('formatTable', () => {
  const columns = [{ header: 'ID' }, { header: 'N', align: 'right' as const }, { header: 'STATE' }];
  const rows = [
    ['node-a', 3, { text: 'alive', colour: 'green' as const }],
    ['b', 12345, { text: 'dead', colour: 'red' as const }],
  ];

  it('aligns columns two spaces apart, numbers right-aligned, no trailing spaces', () => {
    expect(formatTable(columns, rows)).toBe(['ID          N  STATE', 'node-a      3  alive', 'b       12345  dead'].join('\n'));
  });

  it('colours only the text, so the layout is the same with colour on', () => {
    const coloured = formatTable(columns, rows, true);
    expect(coloured).toContain(`${ESC}32malive${ESC}0m`);
    expect(coloured).toContain(`${ESC}31mdead${ESC}0m`);
    // eslint-disable-next-line no-control-regex -- ESC starts the ANSI colour codes this strips
    expect(coloured.replace(/\u001b\[\d+m/g, '')).toBe(formatTable(columns, rows));
  });

  it('pads by code points, not UTF-16 units', () => {
    // U+1D465, one character on screen, two UTF-16 units
    expect(
      formatTable(
        [{ header: 'A' }, { header: 'B' }],
        [
          ['\u{1D465}', 'x'],
          ['ab', 'y'],
        ],
      ),
    ).toBe(['A   B', '\u{1D465}   x', 'ab  y'].join('\n'));
  });

  it('paints nothing when colour is off or no colour is given', () => {
    expect(paint('x', 'green', false)).toBe('x');
    expect(paint('x', undefined, true)).toBe('x');
  });
});

describe('useColour', () => {
  it('colours a terminal only, and never with NO_COLOR set (https://no-color.org)', () => {
    expect(useColour(true, {})).toBe(true);
    expect(useColour(false, {})).toBe(false);
    expect(useColour(undefined, {})).toBe(false);
    expect(useColour(true, { NO_COLOR: '1' })).toBe(false);
    expect(useColour(true, { NO_COLOR: '' })).toBe(true);
  });
});

describe('status', () => {
  const views: InstanceView[] = [
    {
      id: 'node-a',
      alive: true,
      ownedCalls: 2,
      facts: {
        id: 'node-a',
        host: 'web1',
        pid: 4242,
        version: '0.1.0',
        servers: ['10.0.0.9:9022', '10.0.0.10:9022'],
        calls: 3,
        startedAt: T0 - 3_723_000,
        draining: true,
      },
    },
    { id: 'node-b', alive: false, ownedCalls: 1 },
  ];
  const targets: TargetStatus[] = [
    {
      id: 'udp:10.0.0.2:5060',
      active: 1,
      attempts: 4,
      answered: 1,
      canceled: 1,
      failed: { timeout: 2 },
      state: { state: 'down', until: null, cause: '3 probe failures (timeout,timeout,503)', instance: 'node-a', since: T0 },
    },
    { id: 'udp:10.0.0.1:5060', active: 2, attempts: 10, answered: 6, canceled: 0, failed: { '503': 3, error: 1 } },
  ];
  const report = buildStatus(views, targets);

  it('sums the targets into cluster totals and sorts targets by id', () => {
    expect(report.totals).toEqual({ instances: 2, aliveInstances: 1, activeCalls: 3, attempts: 14, answered: 7, canceled: 1, failed: 6 });
    expect(report.targets.map((t) => t.id)).toEqual(['udp:10.0.0.1:5060', 'udp:10.0.0.2:5060']);
  });

  it('gives a dead instance nulls, not made-up facts', () => {
    expect(report.instances[1]).toEqual({
      id: 'node-b',
      alive: false,
      host: null,
      pid: null,
      version: null,
      servers: [],
      calls: null,
      ownedCalls: 1,
      startedAt: null,
      draining: null,
    });
  });

  it('renders both tables and the totals line', () => {
    expect(renderStatus(report, T0)).toBe(
      [
        'Instances',
        'ID      STATE  HOST   PID  VERSION  DRACHTIO                      CALLS  OWNED  STARTED                     UP  DRAINING',
        'node-a  alive  web1  4242  0.1.0    10.0.0.9:9022,10.0.0.10:9022      3      2  2025-03-01T10:57:57Z  1h02m03s  yes',
        'node-b  dead   -        -  -        -                                 -      1  -                            -  -',
        '',
        'Targets',
        'TARGET             ACTIVE  ATTEMPTS  ANSWERED  CANCELED  FAILED         STATE',
        'udp:10.0.0.1:5060       2        10         6         0  503=3 error=1  up',
        'udp:10.0.0.2:5060       1         4         1         1  timeout=2      down: 3 probe failures (timeout,timeout,503)',
        '',
        'Cluster: 2 instance(s), 1 alive; 3 active call(s); 14 attempts: 7 answered, 1 canceled, 6 failed',
      ].join('\n'),
    );
  });

  it('colours alive green, dead red and draining yellow', () => {
    const text = renderStatus(report, T0, true);
    expect(text).toContain(`${ESC}32malive${ESC}0m`);
    expect(text).toContain(`${ESC}31mdead${ESC}0m`);
    expect(text).toContain(`${ESC}33myes${ESC}0m`);
    expect(text).toContain(`${ESC}31mdown: 3 probe failures`);
  });

  it('shows a state with an end with its until', () => {
    const q = buildStatus(
      [],
      [
        {
          id: 'udp:10.0.0.3:5060',
          active: 0,
          attempts: 1,
          answered: 0,
          canceled: 0,
          failed: { '503': 1 },
          state: { state: 'quarantined', until: T0 + 60_000, cause: '503 Retry-After 60', instance: 'node-a', since: T0 },
        },
      ],
    );
    expect(renderStatus(q, T0)).toContain('quarantined until 2025-03-01T12:01:00Z: 503 Retry-After 60');
  });

  it('says so when there is nothing yet', () => {
    expect(renderStatus(buildStatus([], []), T0)).toBe(
      [
        'Instances',
        '(none registered)',
        '',
        'Targets',
        '(no counters yet)',
        '',
        'Cluster: 0 instance(s), 0 alive; 0 active call(s); 0 attempts: 0 answered, 0 canceled, 0 failed',
      ].join('\n'),
    );
  });
});

describe('calls', () => {
  function call(callId: string, tag: string, instance: string, target: string, answeredAt: number, adoptedFrom?: string): LiveCall {
    return {
      key: `${callId};${tag}`,
      callId,
      route: 'r',
      target,
      instance,
      server: '127.0.0.1:9022',
      answeredAt,
      startedAt: answeredAt - 1000,
      aCallId: callId,
      aLocalTag: 'l',
      aRemoteTag: tag,
      aDialogId: 'd',
      aUri: 'sip:a@x',
      bCallId: 'b',
      bLocalTag: 'bl',
      bRemoteTag: 'br',
      bDialogId: 'bd',
      bUri: 'sip:b@y',
      ...(adoptedFrom ? { adoptedFrom, adoptedAt: answeredAt + 1 } : {}),
    };
  }
  const calls = [
    call('new@h', 't2', 'node-a', 'udp:10.0.0.1:5060', T0 - 5_000),
    call('old@h', 't1', 'node-a', 'udp:10.0.0.2:5060', T0 - 3_723_000, 'node-b'),
    call('mid@h', 't3', 'node-c', 'udp:10.0.0.1:5060', T0 - 65_000),
  ];

  it('sorts oldest first and adds the duration so far; adoptedFrom is null unless adopted', () => {
    const rows = callRows(calls, {}, T0);
    expect(rows.map((r) => [r.key, r.durationMs, r.adoptedFrom])).toEqual([
      ['old@h;t1', 3_723_000, 'node-b'],
      ['mid@h;t3', 65_000, null],
      ['new@h;t2', 5_000, null],
    ]);
  });

  it('filters by owner instance and by target, together', () => {
    expect(callRows(calls, { instance: 'node-a' }, T0).map((r) => r.key)).toEqual(['old@h;t1', 'new@h;t2']);
    expect(callRows(calls, { target: 'udp:10.0.0.1:5060' }, T0).map((r) => r.key)).toEqual(['mid@h;t3', 'new@h;t2']);
    expect(callRows(calls, { instance: 'node-a', target: 'udp:10.0.0.1:5060' }, T0).map((r) => r.key)).toEqual(['new@h;t2']);
    expect(callRows(calls, { instance: 'node-z' }, T0)).toEqual([]);
  });

  it('renders one aligned row per call and a count', () => {
    expect(renderCalls(callRows(calls, {}, T0))).toBe(
      [
        'CALL-ID  KEY       ROUTE  TARGET             OWNER   SERVER          ANSWERED              DURATION  ADOPTED-FROM',
        'old@h    old@h;t1  r      udp:10.0.0.2:5060  node-a  127.0.0.1:9022  2025-03-01T10:57:57Z  1h02m03s  node-b',
        'mid@h    mid@h;t3  r      udp:10.0.0.1:5060  node-c  127.0.0.1:9022  2025-03-01T11:58:55Z     1m05s  -',
        'new@h    new@h;t2  r      udp:10.0.0.1:5060  node-a  127.0.0.1:9022  2025-03-01T11:59:55Z        5s  -',
        '3 call(s)',
      ].join('\n'),
    );
    expect(renderCalls([])).toBe('no live calls');
  });
});

describe('callIdOfKey', () => {
  it('takes the Call-ID part of a call key', () => {
    expect(callIdOfKey('abc@10.0.0.1;1234')).toBe('abc@10.0.0.1');
    expect(callIdOfKey('no-tag')).toBe('no-tag');
  });
});
