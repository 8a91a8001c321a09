import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { nodeNameSchema } from './common';
import { NODE_NAME_RE, nodeQueueName, parseQueueName, QUEUE_NAMES, routedQueueName } from './queues';

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

  test('parseQueueName reads every base queue and every node queue back, and refuses the rest', () => {
    for (const q of QUEUE_NAMES) assert.deepEqual(parseQueueName(q), { queue: q });
    assert.deepEqual(parseQueueName('backup@node-a'), { queue: 'backup', node: 'node-a' });
    assert.deepEqual(parseQueueName('restore@n.lan'), { queue: 'restore', node: 'n.lan' });
    for (const bad of ['backups', 'report@n', 'backup@', 'backup@N', 'backup@a@b', '@n', ''])
      assert.equal(parseQueueName(bad), undefined, bad);
  });
});
