// ESLint flat config: typescript-eslint's recommended rules on every TypeScript file, and
// docs/ARCHITECTURE.md's "every export has a TSDoc comment" for functions/src.
import tseslint from 'typescript-eslint';

/** A local rule: an exported declaration must have a `/** … *\/` comment right before it. */
const exportsHaveTsdoc = {
  meta: {type: 'suggestion', messages: {missing: "export '{{name}}' has no TSDoc comment (/** … */) before it"}},
  create(context) {
    const source = context.sourceCode;
    return {
      ExportNamedDeclaration(node) {
        if (!node.declaration) return; // `export {a} from …` re-exports are documented where declared
        const before = source.getCommentsBefore(node).at(-1);
        if (before?.type === 'Block' && before.value.startsWith('*')) return;
        const d = node.declaration;
        const name = d.id?.name ?? d.declarations?.map(v => v.id.name).join(', ') ?? '?';
        context.report({node, messageId: 'missing', data: {name}});
      },
    };
  },
};

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', '.local/**', 'bench/**', 'infra/**']},
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
      'no-console': 'off',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['functions/src/**/*.ts'],
    plugins: {project: {rules: {'exports-have-tsdoc': exportsHaveTsdoc}}},
    rules: {'project/exports-have-tsdoc': 'error'},
  }
);
