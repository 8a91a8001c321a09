import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { FleetMetrics, metricNames } from './metrics';

describe('FleetMetrics', () => {
  test('names follow Prometheus conventions', () => {
    const m = new FleetMetrics('worker', { defaultMetrics: false });
    for (const metric of m.registry.getMetricsAsArray()) {
      const { name } = metric;
      assert.match(name, /^vaultline_[a-z0-9_]+$/, name);
      const type = (metric as unknown as { type: string }).type;
      if (type === 'counter') assert.match(name, /_total$/, `${name} is a counter`);
      else assert.doesNotMatch(name, /_total$/, `${name} is not a counter`);
      if (/duration/.test(name)) assert.match(name, /_seconds$/, name);
      if (/bytes/.test(name)) assert.match(name, /_bytes(_total)?$/, name);
    }
  });

  test('exposes the process metrics and its role as a label', async () => {
    const m = new FleetMetrics('report');
    m.runs.inc({ plan: 'nightly', status: 'success' });
    const { body, contentType } = await m.expose();
    assert.match(contentType, /text\/plain/);
    assert.match(body, /vaultline_runs_total\{plan="nightly",status="success",role="report"\} 1/);
    assert.ok(metricNames(m).includes('vaultline_process_cpu_seconds_total'));
  });
});
