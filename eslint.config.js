// ESLint flat config: typescript-eslint's recommended rules on every TypeScript file.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', '.local/**', 'bench/**', 'infra/**']},
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
      'no-console': 'off',
      eqeqeq: ['error', 'always'],
    },
  }
);
