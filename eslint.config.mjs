// ESLint with typescript-eslint's recommended type-aware-free rules.
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/", ".node24/", "rendered/", "bin/", "coverage/", "**/*.js", "**/*.mjs"] },
    ...tseslint.configs.recommended,
    {
        rules: {
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
        },
    },
    {
        // Tests, checks and policies walk arbitrary Kubernetes objects and JSON schemas.
        files: ["tests/**/*.ts", "integration/**/*.ts", "conformance/**/*.ts", "policy/**/*.ts", "e2e/**/*.ts"],
        rules: { "@typescript-eslint/no-explicit-any": "off" },
    },
);
