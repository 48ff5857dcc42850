// Unit and conformance tests: fast, no servers. `npm run test:integration` runs the real-server tier.
/** @type {import('jest').Config} */
module.exports = {
    testEnvironment: "node",
    // Unit tests live in tests/, and beside the pure builders they test (components/build/*.test.ts).
    roots: ["<rootDir>/tests", "<rootDir>/components"],
    testMatch: ["**/*.test.ts"],
    transform: {
        "^.+\\.[tj]s$": ["ts-jest", { tsconfig: { allowJs: true, module: "commonjs", esModuleInterop: true, isolatedModules: true } }],
    },
    // These ship ESM only: let ts-jest compile them to CommonJS like our own code.
    transformIgnorePatterns: ["/node_modules/(?!(kubernetes-models|@kubernetes-models|@marcbachmann/cel-js)/)"],
    testTimeout: 30000,
    // One synth per distinct input across the run's workers (tests/synthCache.ts).
    globalSetup: "<rootDir>/tests/globalSetup.ts",
    globalTeardown: "<rootDir>/tests/globalTeardown.ts",
    // Jest's default is cores - 1: one worker on a 2-core machine. Most files spend their time in synth.
    maxWorkers: "100%",
};
