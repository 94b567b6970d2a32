/**
 * config/grafana/sip-dispatcher.json against the metrics the dispatcher really exports: every metric
 * a panel or variable queries must be one `lib/metrics/metrics.ts` registers (a histogram's
 * `_bucket`/`_sum`/`_count` series included), so renaming a metric without the dashboard fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Metrics, type MetricsSources } from '../../lib/metrics/metrics';

interface Target {
  expr?: string;
  refId?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type?: string; uid?: string };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  definition?: string;
  query?: string | { query?: string };
}
interface Dashboard {
  __inputs?: { name: string; type: string; pluginId: string }[];
  schemaVersion: number;
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

const DASHBOARD_PATH = join(__dirname, '..', '..', 'config', 'grafana', 'sip-dispatcher.json');
const dashboard = JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8')) as Dashboard;

/** Sources that answer without sockets, Redis or drachtio: the registry only needs them at scrape time. */
const stubSources: MetricsSources = {
  activeByTarget: () => new Map([['udp:192.0.2.1:5060', 1]]),
  settingUp: () => 0,
  drachtioConnected: () => 1,
  redisReady: () => true,
  draining: () => false,
  overloaded: () => false,
  overloadRefused: () => ({}),
};

/** The series names the registry exposes: a histogram (and summary) as its `_bucket`/`_sum`/`_count`. */
async function exportedNames(): Promise<Set<string>> {
  const metrics = new Metrics(stubSources);
  const names = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    const type = String(m.type);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(m.name + s);
    else names.add(m.name);
  }
  return names;
}

/** Every panel, the ones inside collapsed rows included. */
function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
/** string literal | label matchers | range | identifier | number | Grafana variable | space | anything else */
const TOKEN = /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\{[^}]*\}|\[[^\]]*\]|[A-Za-z_:][\w:]*|\d[\w.]*|\$\w+|\s+|./g;

interface Selector {
  metric: string;
  /** the `{…}` after the name, '' when none */
  matchers: string;
}

/**
 * The metric selectors in a PromQL expression: identifiers that are not a function or aggregation
 * (followed by `(`, `by` or `without`), not a keyword, not a label in `by (…)`/`on (…)`, nor inside a string, `{…}` or `[…]`.
 */
function selectors(expr: string): Selector[] {
  const tokens = (expr.match(TOKEN) ?? []).filter((t) => !/^\s+$/.test(t));
  const out: Selector[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!/^[A-Za-z_:][\w:]*$/.test(t)) continue;
    if (GROUPING.has(t)) {
      if (tokens[i + 1] === '(') while (i < tokens.length && tokens[i] !== ')') i++;
      continue;
    }
    // a function (`rate(`) or an aggregation (`sum(`, `sum by (…) (`)
    if (KEYWORDS.has(t.toLowerCase()) || tokens[i + 1] === '(' || tokens[i + 1] === 'by' || tokens[i + 1] === 'without') continue;
    const next = tokens[i + 1] ?? '';
    out.push({ metric: t, matchers: next.startsWith('{') ? next : '' });
  }
  return out;
}

describe('selectors (the PromQL scan the dashboard check relies on)', () => {
  it('finds the metrics and skips functions, aggregations, grouping labels, strings and ranges', () => {
    const expr =
      'histogram_quantile(0.95, sum by (le, route) (rate(sipd_setup_seconds_bucket{instance=~"$instance", route!="x_total"}[$__rate_interval]))) / on (instance) group_left sum without (le) (up offset 5m) > bool 1e3 and count by (job) (sipd_x)';
    expect(selectors(expr)).toEqual([
      { metric: 'sipd_setup_seconds_bucket', matchers: '{instance=~"$instance", route!="x_total"}' },
      { metric: 'up', matchers: '' },
      { metric: 'sipd_x', matchers: '' },
    ]);
  });
});

describe('config/grafana/sip-dispatcher.json', () => {
  const panels = allPanels(dashboard.panels);
  const queryPanels = panels.filter((p) => p.type !== 'row');
  const exprs = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr ?? '' })));

  it('is an importable dashboard: schema, uid, a Prometheus datasource input and variable, an instance variable', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.uid).toBe('sip-dispatcher');
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
    const vars = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
    expect(vars.DS_PROMETHEUS).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(vars.instance).toMatchObject({ type: 'query', definition: 'label_values(sipd_calls_total, instance)' });
  });

  it('has panels with unique ids, inside the 24-column grid, each on the Prometheus datasource with a unit', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
    }
    for (const p of queryPanels) {
      expect({ panel: p.title, datasource: p.datasource?.uid, unit: typeof p.fieldConfig?.defaults?.unit }).toEqual({
        panel: p.title,
        datasource: '${DS_PROMETHEUS}',
        unit: 'string',
      });
      expect(p.targets?.length).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource?.uid).toBe('${DS_PROMETHEUS}');
    }
  });

  it('queries only metrics the dispatcher exports (names from a real Metrics registry)', async () => {
    const exported = await exportedNames();
    // the registry itself has what the dashboard is built on
    for (const n of ['sipd_calls_total', 'sipd_setup_seconds_bucket', 'sipd_nodejs_eventloop_lag_p99_seconds']) expect(exported).toContain(n);

    const used = exprs.flatMap((e) => selectors(e.expr).map((s) => ({ ...e, ...s })));
    const unknown = used.filter((u) => !exported.has(u.metric)).map((u) => `${u.panel} (${u.refId}): ${u.metric}`);
    expect(unknown).toEqual([]);
    // every query names at least one metric
    expect(exprs.filter((e) => selectors(e.expr).length === 0)).toEqual([]);

    // the template variables' queries too
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
      const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
      const m = /^label_values\(\s*([A-Za-z_:][\w:]*)\s*,\s*\w+\s*\)$/.exec(q);
      expect(m).not.toBeNull();
      expect(exported).toContain(m?.[1]);
      expect(v.definition).toBe(q);
    }
  });

  it('filters every selector by the $instance variable', () => {
    const unfiltered = exprs.flatMap((e) =>
      selectors(e.expr)
        .filter((s) => !s.matchers.includes('instance=~"$instance"'))
        .map((s) => `${e.panel} (${e.refId}): ${s.metric}${s.matchers}`),
    );
    expect(unfiltered).toEqual([]);
  });

  it('covers every metric the dispatcher defines itself (sipd_ but not the process defaults)', async () => {
    const exported = await exportedNames();
    const own = [...exported].filter((n) => !/^sipd_(process|nodejs)_/.test(n) && !/_(sum|count)$/.test(n));
    const used = new Set(exprs.flatMap((e) => selectors(e.expr).map((s) => s.metric)));
    expect(own.filter((n) => !used.has(n))).toEqual([]);
  });
});
