/**
 * Forged snapshots for the restore-safety tests: what someone holding only the writer key could
 * commit — any tree at all, sealed and indexed as a real backup would be.
 */
import {
  WorkerPool,
  WriterSession,
  encodeTree,
  ManifestFiles,
  type Manifest,
  type Repository,
  type TreeNode,
} from '@vaultline/engine';

/**
 * Commits a snapshot whose root tree is `nodes(fileNode)`, as a writer-key holder could; `header`
 * sets whose snapshot it claims to be (service, plan) and when it was taken.
 */
export async function forge(
  repo: Repository,
  build: (
    file: (name: string, content: string, extra?: Partial<TreeNode>) => TreeNode,
    dir: (name: string, nodes: TreeNode[]) => TreeNode,
  ) => TreeNode[],
  header: { service?: string; plan?: string; time?: string } = {},
): Promise<string> {
  const { index } = await repo.loadIndex();
  const pool = new WorkerPool(1);
  try {
    const session = new WriterSession(repo, index, pool);
    const pending: Promise<void>[] = [];
    const meta = { mode: 0o644, mtime: '0', uid: 0, gid: 0 };
    const file = (name: string, content: string, extra: Partial<TreeNode> = {}): TreeNode => {
      const bytes = Buffer.from(content);
      const id = session.id(bytes);
      pending.push(session.addData(id, new Uint8Array(bytes)));
      return { name, type: 'file', ...meta, size: bytes.length, content: [id.toString('hex')], ...extra };
    };
    const dir = (name: string, nodes: TreeNode[]): TreeNode => ({
      name,
      type: 'dir',
      ...meta,
      mode: 0o755,
      subtree: session.addTree(encodeTree({ nodes })).toString('hex'),
    });
    const nodes = build(file, dir);
    await Promise.all(pending);
    const tree = session.addTree(encodeTree({ nodes })).toString('hex');
    await session.finish();
    const manifest: Manifest = { files: new ManifestFiles(), trees: [tree] };
    const committed = await session.commitSnapshot(
      manifest,
      {
        tree,
        root: { name: '.', type: 'dir', ...meta, mode: 0o755, subtree: tree },
        paths: ['/'],
        errors: [],
      },
      {
        time: header.time ?? new Date().toISOString(),
        host: 'forger',
        service: header.service ?? null,
        plan: header.plan ?? null,
        tags: [],
        arch: 'x86_64',
        parent: null,
        writer: 'writer-key',
        sourceFp: 'x',
        stats: {
          files: 0,
          dirs: 0,
          totalBytes: 0,
          bytesRead: 0,
          bytesAdded: 0,
          blobsAdded: 0,
          filesNew: 0,
          filesChanged: 0,
          filesUnmodified: 0,
          errors: 0,
          durationMs: 0,
        },
      },
    );
    return committed.id;
  } finally {
    await pool.close();
  }
}
