import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePatterns, globToRegExp } from './find';

test('globToRegExp: * and ? stay within a name, ** spans folders, classes', () => {
  const m = (glob: string, s: string): boolean => globToRegExp(glob).test(s);
  assert.ok(m('*.log', 'app.log'));
  assert.ok(!m('*.log', 'app.log.1'));
  assert.ok(!m('*.log', 'a/b.log'));
  assert.ok(m('file?.txt', 'file1.txt'));
  assert.ok(!m('file?.txt', 'file/.txt'));
  assert.ok(m('/var/**/*.log', '/var/x.log'));
  assert.ok(m('/var/**/*.log', '/var/a/b/x.log'));
  assert.ok(!m('/var/**/*.log', '/srv/var/x.log'));
  assert.ok(m('/etc/**', '/etc/a/b'));
  assert.ok(m('[ab]c', 'ac') && !m('[ab]c', 'cc'));
  assert.ok(m('[!ab]c', 'cc') && !m('[!ab]c', 'ac'));
  assert.ok(m('a.b', 'a.b') && !m('a.b', 'aXb'), 'dots are literal');
  assert.ok(m('\\*', '*') && !m('\\*', 'x'));
  assert.ok(m('[unclosed', '[unclosed'));
  assert.ok(globToRegExp('README*', true).test('readme.md'));
});

test('compilePatterns: names without /, paths with / (anchored when leading), any of several', () => {
  const match = compilePatterns(['*.sql', 'docs/*.md', '/etc/hosts']);
  assert.ok(match('/backup/db.sql', 'db.sql'));
  assert.ok(match('/docs/a.md', 'a.md'));
  assert.ok(match('/srv/app/docs/a.md', 'a.md'), 'a relative path pattern matches at any depth');
  assert.ok(!match('/docs/sub/a.md', 'a.md'));
  assert.ok(match('/etc/hosts', 'hosts'));
  assert.ok(!match('/srv/etc/hosts', 'hosts'));
  assert.ok(!match('/x/readme', 'readme'));
});
