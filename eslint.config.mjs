// Flat config (ESLint 9) for the TypeScript sources, tests, migrations and benchmarks.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'data/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      // `_`-prefixed names are deliberately unused: destructuring a field away
      // (`const { openrouterKey: _removed, ...rest } = …`) or a required callback parameter.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // type-graphql decorators need runtime class references in `() => Type` thunks and
      // `emitDecoratorMetadata` needs value imports of the types in decorated signatures, so a
      // rule that rewrites such imports to `import type` would break the schema: keep it off.
      '@typescript-eslint/consistent-type-imports': 'off',
    },
  },
  {
    // Test helpers type untyped GraphQL responses as `Record<string, any>` so specs can read
    // `result.data?.saveKey.maskedHint` without declaring a type per query; the server code stays strict.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // CommonJS config files (jest.config.js).
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { module: 'writable', require: 'readonly', __dirname: 'readonly', process: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
