// Five password rotations under load, each planned by planRotation from what the previous one left on the
// live objects (liveCredentials: the pods' template, the records) and gated by the program's own evidence waits
// (evidenceProvider over the objects the controllers here write): the test plays Vault (each login role's key
// counting its own versions), External Secrets (the Secrets and their credentials annotation), CNPG (ALTER ROLE
// ... PASSWORD when a password Secret changes, then its passwordStatus) and the Deployment's rolling update,
// with PgJDBC + HikariCP pods on the ConfigMap's exact settings through PgBouncer. Each controller is held back
// first: the wait must still be waiting, and pass only once that controller did its part. Then the
// single-credential order the program had before, which strands the pods on an old password.
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { evidenceProvider } from "../components/resources/controllerEvidence";
import type { EvidenceWait } from "../components/model/evidence";
import type { KubeObject, LiveReader } from "../components/model/kubeObject";
import { CREDENTIALS_ANNOTATION, CREDENTIAL_SLOTS, type CredentialSlot, POD_CREDENTIALS_ANNOTATION, ROTATION_ANNOTATIONS, credentialsVersion, liveCredentials, loginCredentials, planRotation } from "../components/model/rotation";
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

/** The objects the rotation reads, as the controllers here leave them (one namespace each side is enough). */
class PlayedPlatform {
    private readonly objects = new Map<string, KubeObject>();
    private resourceVersion = 100;
    put(object: KubeObject): void {
        this.objects.set(`${object.kind}/${object.metadata.name}`, { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.resourceVersion) } });
    }
    get(kind: string, name: string): KubeObject | undefined {
        return this.objects.get(`${kind}/${name}`);
    }
    reader(): LiveReader {
        return { get: async (ref) => this.get(ref.kind, ref.name), list: async () => [] };
    }
}

/** Starts a wait as the program's dynamic resource does; `settled()` tells whether it has passed yet. */
function startWait(platform: PlayedPlatform, step: string, waits: EvidenceWait[]) {
    let passed = false;
    const done = evidenceProvider(() => platform.reader(), 25)
        .create!({ clusters: { infra: { context: "infra" }, apps: { context: "apps" } }, cluster: waits[0]?.kind === "secretSynced" ? waits[0].cluster : "infra", waits, timeoutSeconds: 30, step })
        .then(() => void (passed = true));
    return { settled: () => passed, done };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("password rotation under load", () => {
    test("five rotations in the program's order, each wait blocking while its controller is held back: 0 failed transactions, 0 failed connection attempts", async () => {
        const { config } = env;
        const logins = loginCredentials(config.tenant);
        const ns = { infra: config.sharedCluster.namespace, apps: config.backend.namespace };
        const platform = new PlayedPlatform();
        // Vault: each login role's key counts its own versions.
        const vault: Record<CredentialSlot, { version: number; password: string }> = { a: { version: 1, password: env.passwords[logins.a.roleName] as string }, b: { version: 1, password: env.passwords[logins.b.roleName] as string } };
        const appsSecretFile = path.join(work, "program-order");

        // What ESO, CNPG and the Deployment controller leave behind, each when the test lets it act.
        const esoSyncsInfra = (slot: CredentialSlot, rotation: string) => {
            platform.put({ apiVersion: "external-secrets.io/v1", kind: "ExternalSecret", metadata: { name: logins[slot].passwordSecretName, annotations: { [ROTATION_ANNOTATIONS.generation]: rotation } } });
            platform.put({ apiVersion: "v1", kind: "Secret", metadata: { name: logins[slot].passwordSecretName, annotations: { [CREDENTIALS_ANNOTATION]: credentialsVersion(logins[slot].roleName, String(vault[slot].version)) } } });
        };
        const cnpgApplied: Partial<Record<string, string>> = {};
        const cnpgApplies = () => {
            for (const slot of CREDENTIAL_SLOTS) {
                const secret = platform.get("Secret", logins[slot].passwordSecretName) as KubeObject;
                if (cnpgApplied[logins[slot].roleName] === secret.metadata.resourceVersion) continue;
                env.applyPassword(logins[slot].roleName, vault[slot].password);
                cnpgApplied[logins[slot].roleName] = secret.metadata.resourceVersion as string;
            }
            const passwordStatus = Object.fromEntries(Object.entries(cnpgApplied).map(([role, resourceVersion]) => [role, { resourceVersion }]));
            platform.put({ apiVersion: "postgresql.cnpg.io/v1", kind: "Cluster", metadata: { name: config.sharedCluster.name }, status: { managedRolesStatus: { passwordStatus } } });
        };
        const recordBackend = (slot: CredentialSlot, rotation: string) =>
            platform.put({ apiVersion: "external-secrets.io/v1", kind: "ExternalSecret", metadata: { name: config.backend.credentialsSecretName, annotations: { [ROTATION_ANNOTATIONS.loginRole]: logins[slot].roleName, [ROTATION_ANNOTATIONS.rotation]: rotation } } });
        const esoSyncsApps = (slot: CredentialSlot) => {
            fs.writeFileSync(appsSecretFile, `${logins[slot].roleName}\n${vault[slot].password}\n`);
            platform.put({ apiVersion: "v1", kind: "Secret", metadata: { name: config.backend.credentialsSecretName, annotations: { [CREDENTIALS_ANNOTATION]: credentialsVersion(logins[slot].roleName, String(vault[slot].version)) } } });
        };
        const rolledOut = (credentials: string) =>
            platform.put({
                apiVersion: "apps/v1",
                kind: "Deployment",
                metadata: { name: config.backend.deploymentName, generation: 1 },
                spec: { replicas: 3, template: { metadata: { annotations: { [POD_CREDENTIALS_ANNOTATION]: credentials } } } },
                status: { observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3 },
            });

        // What the first `up` left: both login roles with their passwords applied, the backend on login role a.
        for (const slot of CREDENTIAL_SLOTS) esoSyncsInfra(slot, "1");
        cnpgApplies();
        recordBackend("a", "1");
        esoSyncsApps("a");
        rolledOut(credentialsVersion(logins.a.roleName, "1"));

        /** Holds a controller back, checks the wait is still waiting, lets the controller act, and the wait passes. */
        const heldBack = async (wait: ReturnType<typeof startWait>, controller: () => void): Promise<boolean> => {
            await pause(400);
            const blocked = !wait.settled();
            controller();
            return blocked;
        };

        const backend = new Backend(env, appsSecretFile);
        const report: string[] = [];
        try {
            await backend.ready();
            for (const rotation of ["2", "3", "4", "5", "6"]) {
                const read = (kind: string, name: string) => platform.get(kind, name);
                const live = liveCredentials({
                    backendSecret: read("ExternalSecret", config.backend.credentialsSecretName),
                    loginSecrets: Object.fromEntries(CREDENTIAL_SLOTS.map((slot) => [slot, read("ExternalSecret", logins[slot].passwordSecretName)])),
                    deployment: read("Deployment", config.backend.deploymentName),
                });
                const plan = planRotation({ ...config, tenant: { ...config.tenant, passwordRotation: rotation } }, live);
                if ("message" in plan) throw new Error(plan.message);
                expect(plan.rotating).toBe(true);
                const generated = CREDENTIAL_SLOTS.filter((slot) => plan.generations[slot] !== live.generations[slot]);
                // Only the idle login role gets a new password: never the one the pods run on.
                expect(generated).toEqual([plan.active]);
                expect(live.pods?.loginRole).not.toBe(logins[plan.active].roleName);
                const start = Date.now();

                // vault
                for (const slot of generated) vault[slot] = { version: vault[slot].version + 1, password: randomBytes(24).toString("base64url") };
                // infraSecret + postgres: the program's wait over both login roles (tenant.ts, passwords-applied).
                const infraWaits: EvidenceWait[] = CREDENTIAL_SLOTS.flatMap((slot): EvidenceWait[] => [
                    { kind: "secretSynced", cluster: "infra", namespace: ns.infra, secretName: logins[slot].passwordSecretName, credentials: credentialsVersion(logins[slot].roleName, String(vault[slot].version)) },
                    { kind: "passwordApplied", namespace: ns.infra, clusterName: config.sharedCluster.name, roleName: logins[slot].roleName, secretName: logins[slot].passwordSecretName, declaredBy: "cluster" },
                ]);
                const applied = startWait(platform, "login role passwords applied in PostgreSQL", infraWaits);
                const blockedOnEso = await heldBack(applied, () => generated.forEach((slot) => esoSyncsInfra(slot, rotation)));
                const blockedOnCnpg = await heldBack(applied, cnpgApplies);
                await applied.done;

                // appsSecret: the backend's ExternalSecret moves; the wait for its Secret (appsSide.ts, credentials-synced).
                recordBackend(plan.active, rotation);
                const expected = credentialsVersion(logins[plan.active].roleName, String(vault[plan.active].version));
                const heldVersion = platform.get("Secret", config.backend.credentialsSecretName)?.metadata.annotations?.[CREDENTIALS_ANNOTATION] ?? "";
                const synced = startWait(platform, "backend credentials synced", [{ kind: "secretSynced", cluster: "apps", namespace: ns.apps, secretName: config.backend.credentialsSecretName, credentials: expected }]);
                const blockedOnAppsEso = await heldBack(synced, () => esoSyncsApps(plan.active));
                await synced.done;

                // backend: the pod template names the pair; the rollout completes on the new login role.
                await backend.roll();
                rolledOut(expected);
                // A Vault version alone (the evidence before) would have been met by the Secret the last rotation left.
                const versionOnlyWouldPass = heldVersion.split("@")[1] === expected.split("@")[1];
                report.push(`${rotation}: ${logins[plan.active].roleName}@${vault[plan.active].version} in ${Date.now() - start} ms, waited for ESO (infra ${blockedOnEso}, apps ${blockedOnAppsEso}) and CNPG ${blockedOnCnpg}; the Secret held ${heldVersion}${versionOnlyWouldPass ? " (a Vault version alone would have passed)" : ""}`);
                expect([blockedOnEso, blockedOnCnpg, blockedOnAppsEso]).toEqual([true, true, true]);
                expect(fs.readFileSync(appsSecretFile, "utf8").split("\n")[0]).toBe(logins[plan.active].roleName);
            }
            await pause(1000);
            const counts = await backend.stop();
            console.log(`program order, 5 rotations: ${JSON.stringify(counts)}\n  ${report.join("\n  ")}`);
            expect(counts.failedTransactions).toBe(0);
            expect(counts.failedConnections).toBe(0);
            expect(counts.firstError).toBe("");
            expect(counts.transactions).toBeGreaterThan(1000);
            // a -> b -> a -> b -> a -> b; rotations 3 and 5 are the ones where a version alone repeats (a@2 after b@2, a@3 after b@3).
            expect(platform.get("Deployment", config.backend.deploymentName)?.spec?.["template"]).toMatchObject({ metadata: { annotations: { [POD_CREDENTIALS_ANNOTATION]: `${logins.b.roleName}@4` } } });
            expect(report.filter((line) => line.includes("a Vault version alone would have passed")).length).toBe(2);
        } finally {
            backend.kill();
        }
    }, 300000);

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
