import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { nodeNameSchema, placementSchema } from './common';
import {
  NODE_LABEL_RE,
  NODE_NAME_RE,
  nodeQueueName,
  parseQueueName,
  QUEUE_NAMES,
  routedQueueName,
} from './queues';

describe('node queues', () => {
  test('backup and restore have <queue>@<node>; nothing else does', () => {
    assert.equal(nodeQueueName('backup', 'node-a'), 'backup@node-a');
    assert.equal(nodeQueueName('restore', 'ip-10-0-0-1.ec2.internal'), 'restore@ip-10-0-0-1.ec2.internal');
    assert.throws(() => nodeQueueName('report', 'node-a'), /the report queue is not routed per node/);
    assert.throws(() => nodeQueueName('maintenance', 'node-a'), /not routed per node/);
    assert.equal(routedQueueName('backup', null), 'backup');
    assert.equal(routedQueueName('backup', 'n1'), 'backup@n1');
  });

  test('node names are DNS subdomains as Kubernetes writes them', () => {
    for (const ok of ['a', 'node-1', 'k3s.lan', '0', 'a'.repeat(253)]) assert.ok(NODE_NAME_RE.test(ok), ok);
    for (const bad of ['', 'Node', 'node_1', '-a', 'a-', 'a.', 'a:b', 'a@b', 'a b', 'a'.repeat(254), 'ä']) {
      assert.ok(!NODE_NAME_RE.test(bad), bad);
      assert.throws(() => nodeQueueName('backup', bad), /invalid node name/);
      assert.equal(nodeNameSchema.safeParse(bad).success, false, bad);
    }
  });

  test('node labels key=value (with an optional DNS prefix) are placements too, never node names', () => {
    for (const ok of [
      'disk=ssd',
      'vaultline.io/pool=nas-1',
      'topology.kubernetes.io/zone=eu-west-1a',
      'A_b.c=X-y_z.1',
    ]) {
      assert.ok(NODE_LABEL_RE.test(ok), ok);
      assert.ok(!NODE_NAME_RE.test(ok), ok);
      assert.equal(placementSchema.safeParse(ok).success, true, ok);
      assert.equal(nodeQueueName('backup', ok), `backup@${ok}`);
      assert.deepEqual(parseQueueName(`restore@${ok}`), { queue: 'restore', node: ok });
    }
    for (const bad of [
      'disk',
      'disk=',
      '=ssd',
      'a=b=c',
      'Pool/x=y',
      'a b=c',
      'x/y/z=1',
      `k=${'v'.repeat(64)}`,
      `${'k'.repeat(64)}=v`,
      '-a=b',
      'a=b-',
    ]) {
      assert.ok(!NODE_LABEL_RE.test(bad), bad);
      assert.equal(placementSchema.safeParse(bad).success, bad === 'disk', bad);
    }
  });

  test('parseQueueName reads every base queue and every node queue back, and refuses the rest', () => {
    for (const q of QUEUE_NAMES) assert.deepEqual(parseQueueName(q), { queue: q });
    assert.deepEqual(parseQueueName('backup@node-a'), { queue: 'backup', node: 'node-a' });
    assert.deepEqual(parseQueueName('restore@n.lan'), { queue: 'restore', node: 'n.lan' });
    for (const bad of ['backups', 'report@n', 'backup@', 'backup@N', 'backup@a@b', '@n', ''])
      assert.equal(parseQueueName(bad), undefined, bad);
  });
});
