// @ts-check
import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every Nx project's name (libs/*, apps/*, test, bench and the root), from its project.json. */
const PROJECT_NAMES = ['libs', 'apps']
  .flatMap((dir) => readdirSync(join(import.meta.dirname, dir)).map((name) => join(dir, name)))
  .concat(['test', 'bench', '.'])
  .map((dir) => join(import.meta.dirname, dir, 'project.json'))
  .filter((file) => existsSync(file))
  .map((file) => /** @type {{ name: string }} */ (JSON.parse(readFileSync(file, 'utf8'))).name);

/** Libraries the engine and storage must never pull in: they stay free of the fleet's stack. */
const FLEET_STACK = ['@nestjs/*', '@prisma/*', 'prisma', 'bullmq', 'ioredis', 'pg', 'prom-client'];

/**
 * What each tag may depend on: every tag of a project.json has a rule here, and a test
 * (test/deploy/nx-workspace.test.ts) fails on a tag without one. Two dimensions:
 *   type:  util (pure TS, zod, node) ← engine ← data (Postgres, Redis, metrics) ← app; tooling (the
 *          root project: build, scripts), test and bench sit on top and may use everything.
 *   scope: shared libs serve the CLI and the fleet alike, so they may only use shared libs; fleet
 *          libs may use shared and fleet libs; the CLI stays off the fleet's stack (shared only).
 * Apps never import each other: Nx forbids imports of application projects outright.
 */
const DEP_CONSTRAINTS = [
  { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util'], bannedExternalImports: FLEET_STACK },
  {
    sourceTag: 'type:engine',
    onlyDependOnLibsWithTags: ['type:util', 'type:engine'],
    bannedExternalImports: FLEET_STACK,
  },
  { sourceTag: 'type:data', onlyDependOnLibsWithTags: ['type:util', 'type:data'] },
  { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:util', 'type:engine', 'type:data'] },
  {
    sourceTag: 'type:tooling',
    onlyDependOnLibsWithTags: ['type:util', 'type:engine', 'type:data', 'type:app'],
  },
  {
    sourceTag: 'type:test',
    onlyDependOnLibsWithTags: ['type:util', 'type:engine', 'type:data', 'type:app', 'type:tooling'],
  },
  {
    sourceTag: 'type:bench',
    onlyDependOnLibsWithTags: ['type:util', 'type:engine', 'type:data', 'type:app', 'type:tooling'],
  },
  { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
  { sourceTag: 'scope:fleet', onlyDependOnLibsWithTags: ['scope:shared', 'scope:fleet'] },
  { sourceTag: 'scope:api', onlyDependOnLibsWithTags: ['scope:shared', 'scope:fleet'] },
  { sourceTag: 'scope:worker', onlyDependOnLibsWithTags: ['scope:shared', 'scope:fleet'] },
  { sourceTag: 'scope:report', onlyDependOnLibsWithTags: ['scope:shared', 'scope:fleet'] },
  { sourceTag: 'scope:cli', onlyDependOnLibsWithTags: ['scope:shared'] },
  // The web UI speaks to the API only through the typed client (a shared lib).
  { sourceTag: 'scope:web', onlyDependOnLibsWithTags: ['scope:shared'] },
];

/** `allow`: import paths exempt from the rule (matched as written, `/**` a prefix). */
function moduleBoundaries(allow) {
  return [
    'error',
    {
      enforceBuildableLibDependency: false,
      allow,
      depConstraints: DEP_CONSTRAINTS,
      // Nothing here is bundled, so a dynamic import() is not lazy loading: never flag one.
      checkDynamicDependenciesExceptions: PROJECT_NAMES,
    },
  ];
}

export default tseslint.config(
  {
    // libs/db/src/generated: the Prisma client, generated at build (npm run prisma:generate);
    // libs/api-client/src/generated: the API's types, generated and committed (npm run api:client).
    ignores: [
      'dist/**',
      'libs/db/src/generated/**',
      'libs/api-client/src/generated/**',
      'node_modules/**',
      '.nx/**',
      '**/*.js',
      '**/*.cjs',
      '**/*.mjs',
      // the web UI's Vite config (Node, ESM): outside apps/web/tsconfig.json's browser program
      'apps/web/vite.config.mts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@nx/enforce-module-boundaries': moduleBoundaries([]),
    },
  },
  {
    // Belt and braces: also forbidden before these packages are installed (Nx only knows installed ones).
    // contracts, config and secrets are shared by every app, the API included: pure TS + zod + node.
    // native is the engine's syscall helper: node and its own addon only.
    files: [
      'libs/engine/**/*.ts',
      'libs/storage/**/*.ts',
      'libs/contracts/**/*.ts',
      'libs/config/**/*.ts',
      'libs/secrets/**/*.ts',
      'libs/targets/**/*.ts',
      'libs/native/**/*.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: FLEET_STACK,
              message: 'the engine, storage and shared util libs stay free of the fleet stack',
            },
          ],
        },
      ],
    },
  },
  {
    // The apps reach the database only through libs/catalog's repositories (docs/architecture.md).
    files: ['apps/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@vaultline/db', '@prisma/*', 'prisma', 'pg'],
              message: 'apps use @vaultline/catalog, never Prisma or the database driver directly',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      // node:test's describe/test return promises the runner awaits itself.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] },
          ],
        },
      ],
    },
  },
  {
    // The tests, benches and scripts drive the apps themselves (an app's main, its runtime), which
    // Nx only allows by relative path; the rule's tag checks still apply to every @vaultline import.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': moduleBoundaries([
        '../apps/**',
        '../../apps/**',
        '../scripts/**',
        '../../scripts/**',
        // dev-only (Prisma's wasm engine, a devDependency): not exported from @vaultline/db
        '../../libs/db/src/schema-engine',
      ]),
    },
  },
  prettier,
);
