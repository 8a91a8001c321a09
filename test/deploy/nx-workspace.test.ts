/**
 * The Nx workspace stays what docs/architecture.md ("Tasks") describes: every lib and app is a
 * project with lint and test targets and its own tsconfig.json (so a new lib is not silently left
 * out of lint or CI), and every tag of a project.json is constrained by a rule in eslint.config.mjs
 * and every rule's tag is used (a tag without a rule means nothing).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { describe, test } from 'node:test';

import { readRepoFile, repoPath } from './support';

interface ProjectJson {
  name: string;
  tags?: string[];
  targets?: Record<string, unknown>;
}

const PROJECT_DIRS = ['libs', 'apps']
  .flatMap((dir) => readdirSync(repoPath(dir)).map((name) => `${dir}/${name}`))
  .concat(['test', 'bench', '.']);

function project(dir: string): ProjectJson {
  return JSON.parse(readRepoFile(dir, 'project.json')) as ProjectJson;
}

describe('the Nx workspace', () => {
  test('every lib and app (and test/, bench/, the root) is a project with lint and test targets', () => {
    for (const dir of PROJECT_DIRS) {
      assert.ok(existsSync(repoPath(dir, 'project.json')), `${dir}/project.json`);
      const targets = Object.keys(project(dir).targets ?? {});
      for (const target of ['lint', 'test']) assert.ok(targets.includes(target), `${dir}: ${target} target`);
      if (dir !== '.') assert.ok(existsSync(repoPath(dir, 'tsconfig.json')), `${dir}/tsconfig.json`);
    }
  });

  test('every tag has a module-boundary rule, and every rule a project with its tag', () => {
    const config = readRepoFile('eslint.config.mjs');
    const ruled = new Set([...config.matchAll(/sourceTag: '([^']+)'/g)].map((match) => match[1] ?? ''));
    const used = new Set(PROJECT_DIRS.flatMap((dir) => project(dir).tags ?? []));
    for (const tag of used) assert.ok(ruled.has(tag), `tag ${tag} has no depConstraint in eslint.config.mjs`);
    for (const tag of ruled) assert.ok(used.has(tag), `depConstraint for ${tag}, a tag no project has`);
  });
});
