// The real-server tier (`npm run test:integration`): PostgreSQL 15 and PgBouncer 1.24.1 on loopback, a
// PgJDBC + HikariCP client. Serial: the servers take fixed loopback addresses.
const base = require("./jest.config");

/** @type {import('jest').Config} */
module.exports = {
    ...base,
    roots: ["<rootDir>/integration"],
    testMatch: ["**/*.itest.ts"],
    maxWorkers: 1,
    testTimeout: 300000,
};
