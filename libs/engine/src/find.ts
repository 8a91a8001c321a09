/**
 * `find`: entries whose name or path matches a glob, across snapshots. A pattern without `/`
 * matches names; with `/` it matches paths (`/` first: from the snapshot's root; else any path
 * ending so). `*` and `?` stay within a name, `**` spans folders, `[…]` / `[!…]` are classes.
 * Identical folders at the same place in several snapshots are searched once.
 */
import type { BlobIndex } from './blob-index';
import { readTree } from './reader';
import type { Repository } from './repository';
import type { TreeNode } from './tree';

export interface FindMatch {
  /** Absolute path inside the snapshot, `/`-separated. */
  path: string;
  node: TreeNode;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A glob as an anchored regular expression (see the module comment). */
export function globToRegExp(pattern: string, ignoreCase = false): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        const atStart = i === 0 || pattern[i - 1] === '/';
        const atEnd = i + 2 === pattern.length || pattern[i + 2] === '/';
        i++;
        if (atStart && atEnd) {
          if (pattern[i + 1] === '/') {
            i++;
            re += '(?:[^/]*/)*'; // `**/`: zero or more folders
          } else re += '.*';
          continue;
        }
      }
      re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^/' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else if (c === '\\' && i + 1 < pattern.length) {
      re += escapeRe(pattern[++i]!);
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`, ignoreCase ? 'iu' : 'u');
}

export interface Matcher {
  (path: string, name: string): boolean;
}

/** One matcher for several patterns (an entry matching any of them matches). */
export function compilePatterns(patterns: readonly string[], ignoreCase = false): Matcher {
  const tests = patterns.map((p) => {
    if (!p.includes('/')) {
      const re = globToRegExp(p, ignoreCase);
      return (_path: string, name: string) => re.test(name);
    }
    const anchored = p.startsWith('/') ? p : `/**/${p}`;
    const re = globToRegExp(anchored.replace(/\/+$/, '') || '/', ignoreCase);
    return (path: string) => re.test(path);
  });
  return (path, name) => tests.some((t) => t(path, name));
}

/**
 * Matching entries below `treeId` (whose path is `dirPath`). `memo` may be shared between
 * snapshots: a folder seen at the same path before is not read again.
 */
export async function findInTree(
  repo: Repository,
  index: BlobIndex,
  treeId: string,
  match: Matcher,
  dirPath = '/',
  memo = new Map<string, Promise<FindMatch[]>>(),
): Promise<FindMatch[]> {
  const key = `${treeId}\0${dirPath}`;
  let pending = memo.get(key);
  if (!pending) {
    pending = (async () => {
      const out: FindMatch[] = [];
      for (const node of (await readTree(repo, index, treeId)).nodes) {
        const path = dirPath === '/' ? `/${node.name}` : `${dirPath}/${node.name}`;
        if (match(path, node.name)) out.push({ path, node });
        if (node.type === 'dir' && node.subtree) {
          // A loop, not push(...): spreading a large result into arguments overflows the stack.
          for (const m of await findInTree(repo, index, node.subtree, match, path, memo)) out.push(m);
        }
      }
      return out;
    })();
    memo.set(key, pending);
  }
  return pending;
}
