/**
 * Creates a web UI user: `node dist/apps/api/src/create-user.js [--reset-password] <name>`.
 * The password comes from VAULTLINE_USER_PASSWORD, else from stdin: typed twice without echo on a
 * terminal, or the first line of what is piped in. It is never printed or logged; only its
 * Argon2id hash is stored (cost: VAULTLINE_USER_KDF_MEMORY_KIB).
 */
import { loadConfig } from '@vaultline/config';
import { createCatalog, isCatalogError } from '@vaultline/catalog';
import { USER_NAME_RE, userPasswordSchema } from '@vaultline/contracts';
import { DEFAULT_PASSWORD_COST, hashPassword } from './auth/passwords';

const USAGE =
  'usage: create-user [--reset-password] <name>   (password from VAULTLINE_USER_PASSWORD or stdin)\n';

class UsageError extends Error {}

/**
 * A line from the terminal without echo (raw mode). The CLI has its own (apps/cli credentials.ts);
 * apps do not import one another, and this one needs none of its error types.
 */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise<string>((resolve, reject) => {
    process.stderr.write(prompt);
    let value = '';
    const finish = (err?: Error): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      if (text.startsWith('\x1b')) return; // arrow keys and other escape sequences
      for (const ch of text) {
        if (ch === '\r' || ch === '\n' || ch === '\x04') return finish();
        if (ch === '\x03') return finish(new UsageError('interrupted'));
        if (ch === '\x7f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
  });
}

/** The first line of stdin, without its line ending. */
async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const nl = text.indexOf('\n');
  return (nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, '');
}

async function readPassword(env: NodeJS.ProcessEnv): Promise<string> {
  const fromEnv = env['VAULTLINE_USER_PASSWORD'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (process.stdin.isTTY === true) {
    const first = await promptHidden('password: ');
    const second = await promptHidden('password again: ');
    if (first !== second) throw new UsageError('the passwords do not match');
    return first;
  }
  return readStdinLine();
}

async function main(argv: readonly string[]): Promise<number> {
  const args = argv.slice(2);
  const reset = args[0] === '--reset-password';
  const rest = reset ? args.slice(1) : args;
  const name = rest[0];
  if (name === undefined || rest.length !== 1 || name.startsWith('-')) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (!USER_NAME_RE.test(name)) {
    process.stderr.write(
      `create-user: the name must be 1-64 letters, digits, dots, underscores or hyphens\n`,
    );
    return 2;
  }
  const config = loadConfig(process.env, 'api');
  const password = await readPassword(process.env);
  const checked = userPasswordSchema.safeParse(password);
  if (!checked.success) {
    process.stderr.write(`create-user: the password ${checked.error.issues[0]?.message ?? 'is invalid'}\n`);
    return 2;
  }
  const catalog = createCatalog(config.databaseUrl);
  try {
    const hash = await hashPassword(password, { ...DEFAULT_PASSWORD_COST, memory: config.userKdfMemoryKib });
    if (reset) {
      if (!(await catalog.users.resetPassword(name, hash))) {
        process.stderr.write(
          `create-user: no user ${JSON.stringify(name)} (create it without --reset-password)\n`,
        );
        return 1;
      }
      process.stderr.write(`reset the password of user ${name}; their sessions have ended\n`);
      return 0;
    }
    try {
      await catalog.users.create(name, hash);
    } catch (err) {
      if (!isCatalogError(err, 'CONFLICT')) throw err;
      process.stderr.write(
        `create-user: user ${JSON.stringify(name)} already exists (use --reset-password to set a new password)\n`,
      );
      return 1;
    }
    process.stderr.write(`created user ${name}\n`);
    return 0;
  } finally {
    await catalog.disconnect();
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`create-user: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
