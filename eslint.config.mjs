// @ts-check
import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/** Libraries the engine and storage must never pull in: they stay free of the fleet's stack. */
const FLEET_STACK = ['@nestjs/*', '@prisma/*', 'prisma', 'bullmq', 'ioredis', 'pg', 'prom-client'];

export default tseslint.config(
  {
    // libs/db/src/generated: the Prisma client, generated at build (npm run prisma:generate).
    ignores: [
      'dist/**',
      'libs/db/src/generated/**',
      'node_modules/**',
      '.nx/**',
      '**/*.js',
      '**/*.cjs',
      '**/*.mjs',
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
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            {
              sourceTag: 'type:util',
              onlyDependOnLibsWithTags: ['type:util'],
              bannedExternalImports: FLEET_STACK,
            },
            {
              sourceTag: 'type:engine',
              onlyDependOnLibsWithTags: ['type:util', 'type:engine'],
              bannedExternalImports: FLEET_STACK,
            },
            {
              sourceTag: 'type:data',
              onlyDependOnLibsWithTags: ['type:util', 'type:data'],
            },
            {
              sourceTag: 'type:app',
              onlyDependOnLibsWithTags: ['type:util', 'type:engine', 'type:data', 'type:feature'],
            },
          ],
        },
      ],
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
  prettier,
);
