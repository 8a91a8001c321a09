// Configuration of the `prisma` CLI only (generate; migrate deploy/dev where Prisma's schema engine
// can be downloaded). The applications never read this file: they take DATABASE_URL from their
// validated config. See docs/database.md.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  // `prisma generate` needs no database; the default matches `npm run db:migrate`.
  datasource: { url: process.env['DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/vaultline' },
});
