// ESLint with typescript-eslint's recommended type-aware-free rules.
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/", ".node24/", "rendered/", "bin/", "coverage/", "**/*.js", "**/*.mjs"] },
    ...tseslint.configs.recommended,
    {
        rules: {
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
            // Under ES2022 class fields, `result!: Output<...>` re-defines the property as undefined after super()
            // returned: a resource's outputs silently vanish. `declare` emits no field.
            "no-restricted-syntax": ["error", { selector: "PropertyDefinition[definite=true]", message: "a definite class field (`x!: T`) is re-initialised to undefined after super() under ES2022 class fields: write `declare readonly x: T` for outputs a resource constructor sets" }],
        },
    },
    {
        // Tests, checks and policies walk arbitrary Kubernetes objects and JSON schemas.
        files: ["tests/**/*.ts", "components/**/*.test.ts", "integration/**/*.ts", "conformance/**/*.ts", "policy/**/*.ts", "e2e/**/*.ts"],
        rules: { "@typescript-eslint/no-explicit-any": "off" },
    },
);
