import { containerSecretNames } from "../components/build/psqlContainer";
// The migration's phase rules and what each phase emits (components/migration/, components/apps/migrationJob.ts).
import { qualifiedKey } from "../components/model/problem";
import type { StackConfig } from "../components/model/config";
import { ConfigError } from "../components/model/config";
import { jobResultProvider } from "../components/resources/jobResult";
import type { KubeObject, LiveReader } from "../components/model/kubeObject";
import { TRUSTED_EXTENSIONS_PG16, extensionProblems } from "../components/model/migration/extensions";
import { phaseProblem } from "../components/model/migration/phases";
import { copyScript, fingerprintSql } from "../components/model/migration/scripts";
import { loadStackConfig } from "../components/program";
import { readStackFile } from "../tools/synth";
import { type HarnessResult, ROOT, byType, preflightRefusal, synth, variantConfig } from "./harness";
import { migrationPlatform } from "./support/fixtures";

const SOURCE = { clusterName: "synergyflow-db", database: "synergyflow", secretName: "synergyflow-db-app" };
const prod: StackConfig = loadStackConfig(readStackFile(`${ROOT}/Pulumi.prod.yaml`).config);
const inPhase = (phase: string, extra: Record<string, unknown> = {}) => variantConfig("prod", { "synergyflow-db:migration": { phase, source: SOURCE, ...extra } });
const withPhase = (phase?: "copy" | "cutover" | "rollback" | "done"): StackConfig => ({ ...prod, ...(phase ? { migration: { phase, source: { ...SOURCE, port: 5432 }, replaceTarget: false, extensions: {}, image: "img", runAsUser: 10001, resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "2", memory: "1Gi" } }, egressCidrs: [], timeoutSeconds: 60 } } : {}) });

describe("migration phases", () => {
    test.each([
        [undefined, "copy", undefined],
        ["copy", "copy", undefined],
        ["copy", "cutover", undefined],
        ["cutover", "rollback", undefined],
        ["cutover", "done", undefined],
        ["rollback", "rollback", undefined],
        ["rollback", "copy", undefined],
        // The way back from a failed (or killed) copy: a first copy that failed recorded nothing.
        [undefined, "rollback", undefined],
        ["copy", "rollback", undefined],
        [undefined, "cutover", `"cutover" cannot follow no migration`],
        ["copy", "done", `"done" cannot follow phase "copy"`],
        ["done", "rollback", `"rollback" cannot follow phase "done"`],
    ] as const)("from %s to %s", (previous, next, refusal) => {
        const record = previous ? { phase: previous, copyResult: { checksumsEqual: true } } : undefined;
        const problem = phaseProblem(withPhase(next), record);
        if (refusal) expect(problem).toMatchObject({ key: "migration.phase", message: refusal, remedy: expect.stringMatching(/^allowed next: /) });
        else expect(problem).toBeUndefined();
    });
    test("cutover needs a verified copy; the block may not vanish mid-migration", () => {
        expect(phaseProblem(withPhase("cutover"), { phase: "copy", copyResult: { checksumsEqual: false, tables: 4 } })?.message).toBe(`"cutover" needs a verified copy, but the last copy reported {"checksumsEqual":false,"tables":4}`);
        expect(phaseProblem(withPhase("cutover"), { phase: "copy" })?.message).toContain("left no result");
        expect(phaseProblem(withPhase(undefined), { phase: "cutover" })).toMatchObject({ key: "migration.phase", message: `the migration block is gone while the last run left it in phase "cutover"` });
        expect(phaseProblem(withPhase(undefined), { phase: "done" })).toBeUndefined();
    });
    test("config: the source is a Cluster or a host (with its CA), and the migration runs from the stack with the infra side", () => {
        const problems = (migration: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
            const raw = readStackFile(variantConfig("prod", { "synergyflow-db:migration": migration, ...extra })).config;
            try {
                loadStackConfig(raw);
                return [];
            } catch (error) {
                return (error as ConfigError).problems.map((p) => `${qualifiedKey(p.key)}: ${p.message}`);
            }
        };
        expect(problems({ phase: "copy", source: { secretName: "s" } })).toEqual(["synergyflow-db:migration.source: must name either clusterName (the dedicated Cluster in synergyflow) or host, not neither"]);
        expect(problems({ phase: "copy", source: { host: "db.example.internal", secretName: "s" } })).toEqual([
            // A NetworkPolicy cannot name a host: the Job's egress needs the addresses it resolves to.
            expect.stringContaining("synergyflow-db:migration.egressCidrs: [] leaves the migration Job's NetworkPolicy nowhere to send the source's (db.example.internal) traffic"),
            expect.stringContaining("synergyflow-db:migration.source.caSecretName: (missing) is required with migration.source.host"),
        ]);
        expect(problems({ phase: "copy", source: { host: "db.example.internal", caSecretName: "ca", secretName: "s" }, egressCidrs: ["10.9.0.0/24"] })).toEqual([]);
        expect(problems({ phase: "copy", source: { host: "10.9.0.7", caSecretName: "ca", secretName: "s" } })).toEqual([]);
        expect(problems({ phase: "later", source: SOURCE })).toEqual([`synergyflow-db:migration.phase: "later" is not allowed; allowed values: "copy" | "cutover" | "rollback" | "done"`]);
        expect(problems({ phase: "copy", source: SOURCE }, { "synergyflow-db:infraStack": "platform/synergyflow-db/prod-infra" })).toEqual([expect.stringContaining("synergyflow-db:migration: runs from the stack that has the infra side too")]);
    });
});

describe("what each phase emits", () => {
    const deployment = (r: HarnessResult) => byType(r, "kubernetes:apps/v1:Deployment")[0]!.inputs as any;
    const jobs = (r: HarnessResult) => byType(r, "kubernetes:batch/v1:Job").map((j) => j.inputs as any).filter((j) => j.metadata.namespace === "synergyflow");
    const record = (r: HarnessResult) => byType(r, "kubernetes:core/v1:ConfigMap").map((c) => c.inputs as any).find((c) => c.metadata.name === "synergyflow-db-migration");
    const datasource = (r: HarnessResult) => byType(r, "kubernetes:core/v1:ConfigMap").map((c) => c.inputs as any).find((c) => c.data?.SPRING_DATASOURCE_URL).data;

    test("copy: the backend at 0 replicas first, then a restricted Job with every credential from a Secret, waited on by its result only; the record says copy", async () => {
        const result = await synth("prod", inPhase("copy"), undefined, migrationPlatform());
        expect(deployment(result).spec.replicas).toBe(0);
        const [job] = jobs(result);
        expect(job.metadata.name).toMatch(/^synergyflow-db-copy-[0-9a-f]{8}$/);
        expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 3600 });
        const container = job.spec.template.spec.containers[0];
        expect(container.command.slice(3)).toEqual(["with-credentials", "bash", "/migration/copy.sh"]);
        expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ["ALL"] } });
        expect(job.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
        const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
        expect(env).toMatchObject({ SOURCE_HOST: "synergyflow-db-rw", SOURCE_SSLMODE: "verify-full", PGHOST: "10.80.12.40", PGSSLMODE: "verify-ca" });
        // Both logins from mounted Secret files, exported by the command just before the script runs.
        for (const name of ["SOURCE_USER", "SOURCE_PASSWORD", "PGUSER", "PGPASSWORD"]) expect(env[name]).toBeUndefined();
        expect(containerSecretNames(job.spec.template.spec, container)).toEqual(["synergyflow-db-app", "synergyflow-db-credentials"]);
        // Its NetworkPolicy is created before it: the pod starts confined to the pooler, the source and DNS.
        const policy = result.resources.find((r) => r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy" && (r.inputs as any).metadata.name === "synergyflow-db-migration")!;
        expect((policy.inputs as any).spec.egress.slice(0, 2)).toEqual([
            { to: [{ ipBlock: { cidr: "10.80.12.40/32" } }], ports: [{ protocol: "TCP", port: 5432 }] },
            { to: [{ podSelector: { matchLabels: { "cnpg.io/cluster": "synergyflow-db" } } }], ports: [{ protocol: "TCP", port: 5432 }] },
        ]);
        expect(container.terminationMessagePolicy).toBe("FallbackToLogsOnError");
        // The Job waits for the Deployment's scale-down: no writer is left when the source goes read-only.
        const job_ = result.resources.find((r) => r.type === "kubernetes:batch/v1:Job" && (r.inputs as any).metadata.namespace === "synergyflow")!;
        expect(job_.dependsOn).toContain("synergyflow-backend-deployment");
        expect(job_.dependsOn).toContain(policy.name);
        // The JobResult is its only wait (it reports the script's message); a replacement (a new script, or
        // `--replace` after a failure) deletes the fixed-name Job first, in the background: the object goes at once,
        // so the replacement is a new Job, not an apply onto the one being deleted.
        expect(job.metadata.annotations).toEqual({ "pulumi.com/skipAwait": "true", "pulumi.com/deletionPropagationPolicy": "background" });
        expect(job_.deleteBeforeReplace).toBe(true);
        expect(record(result).data.phase).toBe("copy");
        expect(result.outputs["migration"]).toMatchObject({ phase: "copy" });
        expect(result.warnings).toEqual([]);
        // The preview says what the phase will do.
        expect(result.infos.join("\n")).toContain(`migration phase "copy" (copy Job): scales the backend to 0, makes the source read-only`);
    });

    test("cutover after a verified copy: the backend back at its replicas on the pooler, no Job; refused after a failed copy", async () => {
        const result = await synth("prod", inPhase("cutover"), undefined, migrationPlatform({ phase: "copy", copyResult: JSON.stringify({ checksumsEqual: true, tables: 4, rows: 352000 }) }));
        expect(deployment(result).spec.replicas).toBe(3);
        expect(jobs(result)).toEqual([]);
        expect(result.infos.join("\n")).toContain(`migration phase "cutover": points the datasource at the pooler`);
        expect(datasource(result).PGHOST).toBe("10.80.12.40");
        const refused = await preflightRefusal(inPhase("cutover"), migrationPlatform({ phase: "copy", copyResult: JSON.stringify({ checksumsEqual: false }) }));
        expect(refused).toContain(`synergyflow-db:migration.phase: "cutover" needs a verified copy, but the last copy reported {"checksumsEqual":false}`);
    });

    test("rollback: first the backend at 0 and the report Job; the next run puts it on the dedicated cluster with its own credentials and CA", async () => {
        const first = await synth("prod", inPhase("rollback"), undefined, migrationPlatform({ phase: "cutover" }));
        expect(deployment(first).spec.replicas).toBe(0);
        expect(jobs(first).map((j) => j.spec.template.spec.containers[0].command.slice(4))).toEqual([["bash", "/migration/rollback.sh"]]);
        const second = await synth("prod", inPhase("rollback"), undefined, migrationPlatform({ phase: "rollback" }));
        expect(deployment(second).spec.replicas).toBe(3);
        expect(jobs(second)).toEqual([]);
        expect(datasource(second)).toMatchObject({ PGHOST: "synergyflow-db-rw", PGSSLMODE: "verify-full" });
        expect(datasource(second).SPRING_DATASOURCE_URL).toMatch(/^jdbc:postgresql:\/\/synergyflow-db-rw:5432\/synergyflow\?sslmode=verify-full&/);
        const backend = deployment(second).spec.template.spec.containers[0];
        expect(containerSecretNames(deployment(second).spec.template.spec, backend)).toEqual(["synergyflow-db-app"]);
        expect(deployment(second).spec.template.spec.volumes.find((v: any) => v.name === "spring-credentials").secret.items.map((i: any) => i.key)).toEqual(["username", "password"]);
        const ca = byType(second, "kubernetes:core/v1:ConfigMap").map((c) => c.inputs as any).find((c) => c.data?.["ca.crt"] && c.metadata.namespace === "synergyflow" && !c.metadata.name);
        expect(ca.data["ca.crt"]).toContain("DEDICATED");
    });

    test("illegal moves are refused at preview naming the key; the source's Secrets must exist", async () => {
        const refused = await preflightRefusal(inPhase("done"), migrationPlatform({ phase: "copy" }));
        expect(refused).toContain(`synergyflow-db:migration.phase: "done" cannot follow phase "copy"`);
        expect(refused).toContain(`remedy: allowed next: "copy" | "cutover" | "rollback"`);
        const noSource = await preflightRefusal(inPhase("copy"), `${ROOT}/fixtures/live/prod`);
        expect(noSource).toContain("synergyflow-db:migration.source.clusterName: the copy verifies the source's certificate with Secret synergyflow/synergyflow-db-ca (key ca.crt), which does not exist on the apps cluster");
        expect(noSource).toContain("synergyflow-db:migration.source.secretName: Secret synergyflow/synergyflow-db-app does not exist on the apps cluster");
    });
});

describe("the Job's result (jobResult.ts): the only wait on the migration's Job", () => {
    const job = (condition?: { type: string; reason?: string; message?: string }): KubeObject => ({
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: "synergyflow-db-copy-0a1b2c3d", namespace: "synergyflow" },
        status: condition ? { conditions: [{ status: "True", ...condition }] } : {},
    });
    const pod = (message?: string): KubeObject => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "synergyflow-db-copy-0a1b2c3d-x7", namespace: "synergyflow", labels: { "job-name": "synergyflow-db-copy-0a1b2c3d" } },
        status: { containerStatuses: [{ state: { terminated: { exitCode: message ? 1 : 0, ...(message ? { message } : {}) } } }] },
    });
    const reader = (objects: () => KubeObject[]): LiveReader => ({
        get: async (ref) => objects().find((o) => o.kind === ref.kind && o.metadata.name === ref.name),
        list: async (_cluster, _apiVersion, kind) => objects().filter((o) => o.kind === kind),
    });
    const state = { clusters: { infra: { context: "infra" }, apps: { context: "apps" } }, cluster: "apps" as const, namespace: "synergyflow", jobName: "synergyflow-db-copy-0a1b2c3d", timeoutSeconds: 1, rerun: "pulumi up --stack prod --replace 'urn:pulumi:prod::synergyflow-db::job'" };

    test("waits while the Job runs, then its termination message (one JSON line) is the result", async () => {
        let objects = [job(), pod()];
        setTimeout(() => (objects = [job({ type: "Complete" }), { ...pod(), status: { containerStatuses: [{ state: { terminated: { exitCode: 0, message: `{"checksumsEqual":true,"rows":12}\n` } } }] } }]), 50);
        const created = await jobResultProvider(() => reader(() => objects), 20).create!({ ...state, timeoutSeconds: 5 });
        expect(created.outs.result).toEqual({ checksumsEqual: true, rows: 12 });
    });

    test("a failed Job fails the update with the script's message and the command that runs it again", async () => {
        const objects = [job({ type: "Failed", reason: "BackoffLimitExceeded" }), pod("copy refused: the target database holds 4 tables in the module schemas and 0 large objects; set synergyflow-db:migration.replaceTarget true to replace them")];
        const error = String(await jobResultProvider(() => reader(() => objects), 20).create!(state).catch((e: Error) => e));
        expect(error).toContain("Job synergyflow/synergyflow-db-copy-0a1b2c3d on the apps cluster failed: copy refused: the target database holds 4 tables");
        expect(error).toContain(`It is not retried on its own; to run it again: ${state.rerun}`);
    });

    test("a Job killed at its deadline (no message from the pod) says so from its condition; one that outlives the wait names the log", async () => {
        const killed = [job({ type: "Failed", reason: "DeadlineExceeded", message: "Job was active longer than specified deadline" })];
        expect(String(await jobResultProvider(() => reader(() => killed), 20).create!(state).catch((e: Error) => e))).toContain("failed: DeadlineExceeded: Job was active longer than specified deadline");
        const running = [job(), pod()];
        expect(String(await jobResultProvider(() => reader(() => running), 20).create!(state).catch((e: Error) => e))).toContain("has not finished within 1s; it is left running: check its pod's log (kubectl --context apps -n synergyflow logs job/synergyflow-db-copy-0a1b2c3d)");
    });
});

describe("extensions (migration.extensions)", () => {
    test("the preview refuses a \"copy\" extension the owner cannot create, naming it and the remedy; trusted ones and the platform's pass", async () => {
        expect(extensionProblems({ citext: "copy", pg_trgm: "copy", postgis: "platform" }, "synergyflow")).toEqual([]);
        const [problem, ...more] = extensionProblems({ citext: "copy", pg_stat_statements: "copy", postgis: "copy" }, "synergyflow");
        expect(more).toEqual([]);
        expect(problem).toMatchObject({ key: "migration.extensions", message: expect.stringContaining(`the copy cannot create "pg_stat_statements", "postgis" on the shared cluster: they are not a trusted extension of PostgreSQL 16`) });
        expect(problem!.remedy).toContain(`CNPG's Database spec.extensions`);
        expect(problem!.remedy).toContain(`"pg_stat_statements": "platform", "postgis": "platform"`);
        const refused = await preflightRefusal(inPhase("copy", { extensions: { citext: "copy", pg_stat_statements: "copy" } }), migrationPlatform());
        expect(refused).toContain(`synergyflow-db:migration.extensions: the copy cannot create "pg_stat_statements" on the shared cluster: it is not a trusted extension of PostgreSQL 16`);
        expect(refused).toContain("ask the platform team to create it in database synergyflow of the shared cluster");
        expect(TRUSTED_EXTENSIONS_PG16).toContain("citext");
    });
    test("the copy script carries the declaration: an extension the copy creates is dumped with it, the platform's is expected on the target", () => {
        const script = copyScript({ schemas: ["a_b"], replaceTarget: false, extensions: { citext: "copy", postgis: "platform" } });
        expect(script).toContain(`case " citext postgis " in`);
        expect(script).toContain(`case " citext " in *" $name "*) extension_flags="$extension_flags --extension=$name"`);
        expect(script).toContain(`unnest(ARRAY['postgis']::text[])`);
        expect(() => fingerprintSql(["a_b"], 0)).toThrow("chunkRows must be a positive integer, not 0");
    });
});

describe("the copy Job's name follows every setting it carries", () => {
    test("changing only migration.replaceTarget makes a new Job name, so a new result reader (keyed on the name) reads the new Job's result", async () => {
        const names = async (extra: Record<string, unknown>) => {
            const result = await synth("prod", inPhase("copy", extra), undefined, migrationPlatform());
            const job = byType(result, "kubernetes:batch/v1:Job").map((j) => j.inputs as any).find((j) => j.metadata.namespace === "synergyflow");
            const reader = result.resources.find((r) => r.type.includes("JobResult"));
            return { job: job.metadata.name as string, reader: reader ? JSON.stringify(reader.inputs) : undefined };
        };
        const [keep, replace] = [await names({ replaceTarget: false }), await names({ replaceTarget: true })];
        expect(keep.job).not.toBe(replace.job);
        expect(keep.reader).toContain(keep.job);
        expect(replace.reader).toContain(replace.job);
    });
});
