// ESLint (flat config). `npm run lint` runs it beside tsc over the tests and Prettier's check;
// `npm run format` applies its autofixes, then Prettier. Layout is Prettier's alone: no rule
// here is about formatting.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// `_name` marks a binding kept on purpose (a parameter an interface passes, a field left out
// of a rest object).
const unusedVars = [
  'error',
  {
    argsIgnorePattern: '^_',
    varsIgnorePattern: '^_',
    caughtErrorsIgnorePattern: '^_',
    destructuredArrayIgnorePattern: '^_',
    ignoreRestSiblings: true,
  },
];

export default tseslint.config(
  {
    ignores: ['dist/', 'build/', 'coverage/', '.bench/', 'node_modules/', '**/assembly/'],
  },
  {
    // An eslint-disable comment that suppresses nothing (the code moved on) is an error.
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  js.configs.recommended,
  {
    // TypeScript: the type-aware recommended set over the program tsconfig.test.json describes
    // (src/ and test/ together, as the tests import the code).
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Type-only imports say so (erased at build, no load-order surprises). `typeof import()`
      // stays allowed: the CLI and the sinks type their lazy require() calls with it, which
      // keeps a module off the start-up path.
      '@typescript-eslint/consistent-type-imports': ['error', { disallowTypeAnnotations: false }],
      '@typescript-eslint/no-unused-vars': unusedVars,
      // Off: the async methods it names implement Promise-returning contracts (Sink.close,
      // credential providers, segment stores) without awaiting anything; `async` is what
      // turns their synchronous throws into the rejections the contracts promise.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Tests read JSON (responses, records, Log Service views) and untyped fixtures as `any`
    // and hand it to expect(), which checks the shape at run time: the no-unsafe family and
    // no-explicit-any guard the code, not the assertions.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Plain CommonJS scripts: bench/, tools/, the local Log Service, the tests' child
    // processes. Not type-checked (most carry no JSDoc), so the syntax-level rules only.
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: { 'no-unused-vars': unusedVars },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module', globals: globals.node },
  },
);
