// Three password rotations under load, each step applied in the program's order (ROTATION_ORDER, planned by
// planRotation from what the previous rotation left): the test plays Vault, External Secrets (the Secrets'
// contents), CNPG (ALTER ROLE ... PASSWORD when a password Secret changes) and the Deployment's rolling update,
// with PgJDBC + HikariCP pods on the ConfigMap's exact settings through PgBouncer. Then the single-credential
// order the program had before, which strands the pods on an old password.
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { CREDENTIAL_SLOTS, type CredentialSlot, type LiveCredentials, ROTATION_ORDER, type RotationPlan, type RotationStep, loginCredentials, planRotation } from "../components/rotation";
import { type TenantEnvironment, startTenantEnvironment } from "./environment";

const CLIENT_DIR = path.join(__dirname, "jdbc-client");

interface Counts {
    transactions: number;
    failedTransactions: number;
    failedConnections: number;
    firstError: string;
}

/** The backend's pods (JdbcRollout.java): started on the credentials file, rolled and stopped on command. */
class Backend {
    private readonly child: ChildProcessWithoutNullStreams;
    private readonly lines: AsyncIterator<string>;

    constructor(env: TenantEnvironment, readonly credentialsFile: string) {
        this.child = spawn("java", ["-cp", path.join(CLIENT_DIR, "target", "lib", "*"), path.join(CLIENT_DIR, "JdbcRollout.java")], {
            env: { ...process.env, ...env.datasource, CREDENTIALS_FILE: credentialsFile, PODS: "3", THREADS_PER_POD: "4" },
        });
        this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
    }

    private async next(): Promise<string> {
        const line = await this.lines.next();
        if (line.done) throw new Error(`the load client ended: ${this.child.stderr.read() ?? ""}`);
        return line.value;
    }

    async ready(): Promise<void> {
        expect(await this.next()).toBe("ready");
    }

    /** A rolling update of every pod; its duration in ms. */
    async roll(): Promise<number> {
        this.child.stdin.write("roll\n");
        return Number((await this.next()).split(" ")[1]);
    }

    async stop(): Promise<Counts> {
        this.child.stdin.end("stop\n");
        return JSON.parse(await this.next()) as Counts;
    }

    kill(): void {
        this.child.kill("SIGKILL");
    }
}

const newPassword = () => randomBytes(24).toString("base64url");

let env: TenantEnvironment;
let work: string;
beforeAll(async () => {
    execFileSync("mvn", ["-q", "-B", "-f", path.join(CLIENT_DIR, "pom.xml"), "dependency:copy-dependencies", `-DoutputDirectory=${path.join(CLIENT_DIR, "target", "lib")}`], { stdio: "pipe" });
    env = await startTenantEnvironment("operator");
    work = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-rotation-"));
}, 240000);
afterAll(async () => {
    await env?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe("password rotation under load", () => {
    test("three rotations in the program's order: 0 failed transactions, 0 failed connection attempts", async () => {
        const logins = loginCredentials(env.config.tenant);
        // What the first `up` left: both login roles with their Vault passwords, the backend on login role a.
        const vault: Record<CredentialSlot, string> = { a: env.passwords[logins.a.roleName] as string, b: env.passwords[logins.b.roleName] as string };
        const infraSecret = { ...vault };
        const appliedInPostgres = { ...vault };
        const appsSecret = path.join(work, "program-order");
        fs.writeFileSync(appsSecret, `${logins.a.roleName}\n${vault.a}\n`);
        let live: LiveCredentials = { backend: { loginRole: logins.a.roleName, rotation: "1" }, generations: { a: "1", b: "1" } };

        // Each step as the platform carries it out, once the one before it is done (the program waits for the
        // evidence of each: the Secret's Vault version, CNPG's applied resourceVersion, the rollout).
        const steps: Record<RotationStep, (plan: RotationPlan, generated: CredentialSlot[]) => Promise<void> | void> = {
            vault: (_plan, generated) => generated.forEach((slot) => (vault[slot] = newPassword())),
            infraSecret: () => CREDENTIAL_SLOTS.forEach((slot) => (infraSecret[slot] = vault[slot])),
            postgres: () =>
                CREDENTIAL_SLOTS.filter((slot) => appliedInPostgres[slot] !== infraSecret[slot]).forEach((slot) => {
                    env.applyPassword(logins[slot].roleName, infraSecret[slot]);
                    appliedInPostgres[slot] = infraSecret[slot];
                }),
            appsSecret: (plan) => fs.writeFileSync(appsSecret, `${logins[plan.active].roleName}\n${vault[plan.active]}\n`),
            backend: async () => void (await backend.roll()),
        };

        const backend = new Backend(env, appsSecret);
        try {
            await backend.ready();
            const durations: number[] = [];
            for (const rotation of ["2", "3", "4"]) {
                const plan = planRotation({ ...env.config, tenant: { ...env.config.tenant, passwordRotation: rotation } }, live);
                if ("message" in plan) throw new Error(plan.message);
                expect(plan.rotating).toBe(true);
                const generated = CREDENTIAL_SLOTS.filter((slot) => plan.generations[slot] !== live.generations[slot]);
                // Only the idle login role gets a new password; the one the pods use keeps its own.
                expect(generated).toEqual([plan.active]);
                const start = Date.now();
                for (const step of ROTATION_ORDER) await steps[step](plan, generated);
                durations.push(Date.now() - start);
                live = { backend: { loginRole: logins[plan.active].roleName, rotation }, generations: plan.generations };
            }
            // Load keeps running on the last login role after the rotations.
            await new Promise((resolve) => setTimeout(resolve, 1000));
            const counts = await backend.stop();
            console.log(`program order, 3 rotations: ${JSON.stringify(counts)}, rotation durations (ms) ${durations.join(", ")}`);
            expect(counts.failedTransactions).toBe(0);
            expect(counts.failedConnections).toBe(0);
            expect(counts.firstError).toBe("");
            expect(counts.transactions).toBeGreaterThan(1000);
            // a -> b -> a -> b.
            expect(live.backend?.loginRole).toBe(logins.b.roleName);
        } finally {
            backend.kill();
        }
    }, 240000);

    test("the single-credential order of before (Vault, roll at once, then ESO and CNPG) strands the pods: new pods cannot log in", async () => {
        const role = loginCredentials(env.config.tenant).a.roleName;
        const appsSecret = path.join(work, "single-credential");
        fs.writeFileSync(appsSecret, `${role}\n${env.passwords[role]}\n`);
        const backend = new Backend(env, appsSecret);
        try {
            await backend.ready();
            // 1. A new Vault version of the one credential; 2. the backend rolls at once, its Secret still the old
            // one (ESO re-reads Vault at refreshInterval, 1h in prod): the pods start fine on the old password.
            const next = newPassword();
            await backend.roll();
            // 3. The infra ExternalSecret syncs; 4. CNPG changes the role's password under the running pods.
            env.applyPassword(role, next);
            // 5. Within the hour, any pod that starts (a restart, a reschedule, the next deploy) reads the old Secret.
            await backend.roll();
            const counts = await backend.stop();
            console.log(`single-credential order: ${JSON.stringify(counts)}`);
            expect(counts.failedConnections).toBeGreaterThan(0);
            // PgBouncer verifies the client against the hash PostgreSQL now holds: the old password fails SASL.
            expect(counts.firstError).toMatch(/SASL authentication failed/);
        } finally {
            backend.kill();
        }
    }, 240000);
});
