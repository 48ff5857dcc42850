// The migration's phases through the real engine (`migration.phase`, one `up` each) against the apps API server,
// with the PodSecurity admission enforcing "restricted" on the namespace. No PostgreSQL runs here: kwok runs each
// Job's pod and the test plays its container's end (exit code and termination message, see controllers.ts)
// once it has inspected the pod the program made; what the scripts do to real databases is the integration
// tier's (integration/migration.itest.ts). What this shows is the engine's side: the order (writers stopped before
// the Job starts), the Job's result in `pulumi stack output` and the record, a failure's message and the command
// it prints to run again, the preflight refusing an illegal move, and where the backend points in every phase.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { Stack } from "@pulumi/pulumi/automation";
import type { StackConfig } from "../components/model/config";
import { containerSecretNames } from "../components/build/psqlContainer";
import { migrationRecordName } from "../components/model/migration/phases";
import { StopPolling, assert, check, until } from "./checks";
import { PLAYED_EXIT_CODE, PLAYED_TERMINATION_MESSAGE } from "./controllers";
import { type ApiServer, kubeRequest } from "./controlPlane";

export interface MigrationContext {
    stack: Stack;
    apps: ApiServer;
    config: StackConfig;
    onOutput: (text: string) => void;
    output: string[];
    /** The preview's error message (fails when the preview passes). */
    previewError: () => Promise<string>;
    /** Every credential of the run, which the state and the engine output must not contain (the source's is added). */
    credentials: string[];
}

const SOURCE_CLUSTER = "synergyflow-db";
const SOURCE_SECRET = "synergyflow-db-app";

/** A CA certificate for the dedicated cluster, distinct from the shared cluster's. */
function sourceCaCertificate(): string {
    return execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "/dev/null", "-subj", `/CN=${SOURCE_CLUSTER}-ca`, "-days", "1"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
}

export async function migrationChecks(ctx: MigrationContext): Promise<void> {
    const { stack, apps, config, onOutput } = ctx;
    const ns = config.backend.namespace;
    const app = config.tenant.appName;
    const get = (path: string) => kubeRequest(apps, "GET", `/api/v1/namespaces/${ns}/${path}`);
    const deployment = () => kubeRequest(apps, "GET", `/apis/apps/v1/namespaces/${ns}/deployments/${config.backend.deploymentName}`);
    const jobs = async () => ((await kubeRequest(apps, "GET", `/apis/batch/v1/namespaces/${ns}/jobs`)).items as any[]).filter((j) => j.metadata.name.startsWith(`${app}-db-`));
    const record = async () => (await get(`configmaps/${migrationRecordName(config)}`).catch(() => undefined))?.data as Record<string, string> | undefined;
    /** Where the backend points: its datasource URL, the Secrets and the CA its pods read. */
    const backendRefs = async () => {
        const backend = await deployment();
        const pod = backend.spec.template.spec;
        const configMaps = (await get("configmaps")).items as any[];
        const byName = (name?: string) => configMaps.find((c) => c.metadata.name === name);
        const datasourceName = pod.containers[0].envFrom?.find((e: any) => e.configMapRef)?.configMapRef.name;
        const caName = (pod.volumes as any[]).map((v) => v.configMap?.name).find((n) => byName(n)?.data?.["ca.crt"]);
        // Credentials reach the pods as mounted files (the Secrets behind the volumes) or Secret references.
        const secrets = new Set<string>([...pod.containers, ...(pod.initContainers ?? [])].flatMap((c: any) => containerSecretNames(pod, c)));
        return {
            spec: backend.spec,
            replicas: backend.spec.replicas as number,
            available: (backend.status?.availableReplicas ?? 0) as number,
            url: String(byName(datasourceName)?.data?.["SPRING_DATASOURCE_URL"]),
            secrets: [...secrets],
            ca: byName(caName)?.data?.["ca.crt"] as string | undefined,
        };
    };

    // The dedicated cluster as its CNPG operator leaves it in the namespace: its CA and its owner's credentials.
    const ca = sourceCaCertificate();
    const sourcePassword = randomBytes(18).toString("base64url");
    ctx.credentials.push(sourcePassword);
    await kubeRequest(apps, "POST", `/api/v1/namespaces/${ns}/secrets`, { metadata: { name: `${SOURCE_CLUSTER}-ca` }, data: { "ca.crt": Buffer.from(ca).toString("base64") } });
    await kubeRequest(apps, "POST", `/api/v1/namespaces/${ns}/secrets`, { metadata: { name: SOURCE_SECRET }, type: "kubernetes.io/basic-auth", stringData: { username: "synergyflow", password: sourcePassword } });
    const sourceSecrets = async () => JSON.stringify(await Promise.all([`${SOURCE_CLUSTER}-ca`, SOURCE_SECRET].map(async (n) => (await get(`secrets/${n}`)).metadata.resourceVersion)));
    const sourceSecretsBefore = await sourceSecrets();

    const setMigration = (phase: string, replaceTarget = false, extensions: Record<string, string> = {}) =>
        stack.setConfig("synergyflow-db:migration", { value: JSON.stringify({ phase, source: { clusterName: SOURCE_CLUSTER, database: "synergyflow", secretName: SOURCE_SECRET }, replaceTarget, timeoutSeconds: 120, extensions }) });

    /**
     * Waits for the Running pod of the phase's Job, inspects it while the Job runs, then ends it with this exit
     * code and message. An inspection that fails still ends the pod (exit 1), so the `up` waiting on it returns.
     */
    type Play = { job: "copy" | "rollback"; exitCode: number; message: string; inspect?: (pod: any) => Promise<void> };
    const play = async ({ job, exitCode, message, inspect = async () => undefined }: Play, upEnded: () => boolean) => {
        const pod = await until(`the ${job} Job's running pod`, async () => {
            if (upEnded()) throw new StopPolling(`up ended before the ${job} Job's pod ran`);
            return (((await get("pods").catch(() => undefined))?.items ?? []) as any[]).find((p) => String(p.metadata.labels?.["job-name"] ?? "").startsWith(`${app}-db-${job}-`) && p.status?.phase === "Running" && !p.metadata.annotations?.[PLAYED_EXIT_CODE]);
        }, 120000, async () => `Jobs: ${JSON.stringify((((await kubeRequest(apps, "GET", `/apis/batch/v1/namespaces/${ns}/jobs`).catch(() => undefined))?.items ?? []) as any[]).map((j) => [j.metadata.name, j.metadata.uid, j.status]))}; pods: ${(((await get("pods").catch(() => undefined))?.items ?? []) as any[]).map((p) => `${p.metadata.name} ${p.status?.phase} ${p.metadata.deletionTimestamp ? "deleting" : ""} owner ${p.metadata.ownerReferences?.[0]?.uid}`).join(", ")}`);
        let failure: unknown;
        try {
            await inspect(pod);
        } catch (error) {
            failure = error;
        }
        const annotations = failure ? { [PLAYED_EXIT_CODE]: "1", [PLAYED_TERMINATION_MESSAGE]: "e2e: the pod's inspection failed" } : { [PLAYED_EXIT_CODE]: String(exitCode), [PLAYED_TERMINATION_MESSAGE]: message };
        await kubeRequest(apps, "PATCH", `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`, { metadata: { annotations } }, "application/merge-patch+json");
        if (failure) throw failure;
        return pod;
    };
    /** `up` while the phase's Job is played: both must finish; returns up's error message, if it failed. */
    const upWhilePlaying = async (played: Play, replace: string[] = []) => {
        let ended = false;
        const up = stack.up({ onOutput, ...(replace.length ? { replace } : {}) }).finally(() => (ended = true));
        const [upResult, playing] = await Promise.allSettled([up, play(played, () => ended)]);
        const upError = upResult.status === "rejected" ? String((upResult.reason as Error).message ?? upResult.reason) : undefined;
        if (playing.status === "rejected") throw new Error(`${String((playing.reason as Error).message ?? playing.reason)}${upError ? `\nup: ${upError.slice(-1500)}` : ""}`);
        return upError;
    };

    const writersStoppedAndRestricted = async (pod: any) => {
        const backend = await deployment();
        assert(backend.spec.replicas === 0 && !backend.status?.readyReplicas, `the Job runs while the backend has ${backend.spec.replicas} replicas (${backend.status?.readyReplicas ?? 0} ready): writers are not stopped first`);
        const namespace = await kubeRequest(apps, "GET", `/api/v1/namespaces/${ns}`);
        assert(namespace.metadata.labels?.["pod-security.kubernetes.io/enforce"] === "restricted", "the namespace does not enforce restricted: the admission proved nothing");
        // ...and the API server's admission does enforce it: a pod without the restricted context is refused.
        const unrestricted = { metadata: { generateName: "unrestricted-" }, spec: { containers: [{ name: "c", image: pod.spec.containers[0].image }] } };
        const refusal = await kubeRequest(apps, "POST", `/api/v1/namespaces/${ns}/pods?dryRun=All`, unrestricted).then(() => "admitted", (e: Error) => e.message);
        assert(refusal.includes("violates PodSecurity") && refusal.includes("restricted:latest"), `an unrestricted pod was not refused: ${refusal.slice(0, 300)}`);
        const container = pod.spec.containers[0];
        assert(pod.spec.automountServiceAccountToken === false && pod.spec.securityContext?.runAsNonRoot === true, "the Job's pod mounts the API token or may run as root");
        const env = container.env as any[];
        // The credentials are files from the two Secrets, never in the pod spec's environment.
        for (const name of ["SOURCE_PASSWORD", "PGPASSWORD", "SOURCE_USER", "PGUSER"]) assert(!env.some((e) => e.name === name), `${name} is in the container's environment, not read from a mounted Secret`);
        const mounted = containerSecretNames(pod.spec, container);
        for (const secret of [SOURCE_SECRET, config.backend.credentialsSecretName]) assert(mounted.includes(secret), `the Job does not mount Secret ${secret} (it mounts ${mounted.join(", ")})`);
        assert(!JSON.stringify(pod).includes(sourcePassword), "the source's password is in the pod spec");
        assert(env.find((e) => e.name === "SOURCE_HOST")?.value === `${SOURCE_CLUSTER}-rw` && env.find((e) => e.name === "SOURCE_SSLMODE")?.value === "verify-full", "the source is not reached at its -rw Service with verify-full");
        const job = await kubeRequest(apps, "GET", `/apis/batch/v1/namespaces/${ns}/jobs/${pod.metadata.labels["job-name"]}`);
        assert(job.spec.activeDeadlineSeconds === 120 && job.spec.backoffLimit === 0, `the Job's deadline is not migration.timeoutSeconds, or it retries: ${JSON.stringify(job.spec)}`);
    };

    // What the copy Job prints when it verified everything (figures of an integration-tier copy: played here).
    const verified = { checksumsEqual: true, tables: 5, rows: 352633, bytes: 38354944, seconds: 6 };
    let rerun: string[] = [];
    await check("migration copy: the preview refuses a source extension the owner cannot create on the shared cluster, naming it and the remedy", async () => {
        await setMigration("copy", false, { citext: "copy", pg_stat_statements: "copy" });
        try {
            const message = await ctx.previewError();
            assert(message.includes(`synergyflow-db:migration.extensions: the copy cannot create "pg_stat_statements" on the shared cluster`) && message.includes("CNPG's Database spec.extensions"), `not the refusal: ${message.slice(0, 1500)}`);
        } finally {
            await setMigration("copy");
        }
    });
    await check("migration copy through the engine: the backend is at 0 before the Job starts (restricted, credentials from Secrets); a failed copy fails up with the script's message and the command that runs it again; the record does not move", async () => {
        await setMigration("copy");
        const from = ctx.output.length;
        await stack.preview({ onOutput });
        assert(ctx.output.slice(from).join("").includes(`migration phase "copy" (copy Job): scales the backend to 0`), "the preview does not say what the copy phase does");
        const failed = "copy verification failed: source and target differ (above)";
        const error = await upWhilePlaying({ job: "copy", exitCode: 1, message: failed, inspect: writersStoppedAndRestricted });
        assert(error?.includes(`Job ${ns}/${app}-db-copy-`) && error.includes(`failed: ${failed}`), `up did not fail with the Job's message: ${error?.slice(-1500)}`);
        const replace = /--replace '([^']+)'/.exec(error ?? "");
        assert(replace && error!.includes("pulumi up --stack local --replace"), `no command to run it again in: ${error?.slice(-800)}`);
        rerun = [replace[1]!];
        assert((await record()) === undefined, `the record moved after a failed copy: ${JSON.stringify(await record())}`);
    });
    await check("migration copy: the printed command runs a new Job; its verified result reaches `pulumi stack output migration` and the record", async () => {
        assert(rerun.length === 1, "no command from the failed copy");
        const before = (await jobs()).map((j) => j.metadata.uid);
        const error = await upWhilePlaying({ job: "copy", exitCode: 0, message: JSON.stringify(verified) }, rerun);
        assert(error === undefined, `up failed: ${error?.slice(-1500)}`);
        const after = await jobs();
        assert(after.length === 1 && !before.includes(after[0].metadata.uid) && after[0].status?.succeeded === 1, `Jobs: ${JSON.stringify(after.map((j) => [j.metadata.name, j.status]))}`);
        const output = (await stack.outputs())["migration"]?.value;
        assert(isDeepStrictEqual(output?.result, verified) && output?.phase === "copy", `stack output migration: ${JSON.stringify(output)}`);
        const recorded = await record();
        assert(recorded?.["phase"] === "copy" && isDeepStrictEqual(JSON.parse(recorded["copyResult"] ?? "null"), verified), `record: ${JSON.stringify(recorded)}`);
        await stack.up({ onOutput, expectNoChanges: true });
    });
    await check(`migration: "done" straight from "copy" is refused at preview naming the key; nothing changes`, async () => {
        await setMigration("done");
        try {
            const message = await ctx.previewError();
            assert(message.includes(`synergyflow-db:migration.phase: "done" cannot follow phase "copy"`) && message.includes(`allowed next: "copy" | "cutover"`), `not the refusal: ${message.slice(0, 1500)}`);
        } finally {
            await setMigration("copy");
        }
    });
    await check("migration cutover: the datasource points at the pooler, the backend is back at its replicas, the copy Job is gone", async () => {
        await setMigration("cutover");
        await stack.up({ onOutput });
        const refs = await backendRefs();
        assert(refs.replicas === config.backend.replicas && refs.available === config.backend.replicas, `backend: ${refs.available}/${refs.replicas}`);
        assert(refs.url.includes(`//${config.pooler.exposure.loadBalancerIP}:`) && refs.secrets.every((s) => s === config.backend.credentialsSecretName), `datasource ${refs.url}, Secrets ${refs.secrets.join(", ")}`);
        assert((await jobs()).length === 0, "the copy Job was not removed");
        assert((await record())?.["phase"] === "cutover", "record not at cutover");
    });
    const rollbackReport = { sourceWritable: true, tablesChangedOnShared: 1, rowCounts: { "synergyflow_audit.events": { source: 1614, shared: 1619 } }, largeObjects: { source: 20, shared: 20 } };
    await check("migration rollback, first run: the backend is at 0 before the rollback Job starts; its report reaches the stack output", async () => {
        await setMigration("rollback");
        const error = await upWhilePlaying({ job: "rollback", exitCode: 0, message: JSON.stringify(rollbackReport), inspect: writersStoppedAndRestricted });
        assert(error === undefined, `up failed: ${error?.slice(-1500)}`);
        const output = (await stack.outputs())["migration"]?.value;
        assert(isDeepStrictEqual(output?.result, rollbackReport), `stack output migration: ${JSON.stringify(output)}`);
        assert((await record())?.["phase"] === "rollback" && (await deployment()).spec.replicas === 0, "record or replicas");
    });
    await check("migration rollback, second run: the backend runs on the dedicated cluster with its own Secret and CA (verify-full); the shared side is not referenced", async () => {
        await stack.up({ onOutput });
        const refs = await backendRefs();
        assert(refs.replicas === config.backend.replicas && refs.available === config.backend.replicas, `backend: ${refs.available}/${refs.replicas}`);
        assert(refs.url.includes(`//${SOURCE_CLUSTER}-rw:5432/synergyflow`) && refs.url.includes("sslmode=verify-full"), `datasource ${refs.url}`);
        assert(refs.secrets.includes(SOURCE_SECRET) && !refs.secrets.includes(config.backend.credentialsSecretName), `Secrets ${refs.secrets.join(", ")}`);
        assert(refs.ca === ca, "the backend's CA is not the dedicated cluster's");
        await stack.up({ onOutput, expectNoChanges: true });
    });
    const again = await check("migration again: copy (replaceTarget) -> cutover -> done; nothing refers to the source afterwards and its Secrets are untouched; removing the block deletes the record", async () => {
        await setMigration("copy", true);
        const error = await upWhilePlaying({ job: "copy", exitCode: 0, message: JSON.stringify(verified), inspect: writersStoppedAndRestricted });
        assert(error === undefined, `copy: ${error?.slice(-1500)}`);
        await setMigration("cutover", true);
        await stack.up({ onOutput });
        await setMigration("done", true);
        await stack.up({ onOutput });
        const refs = await backendRefs();
        assert(!refs.url.includes(`${SOURCE_CLUSTER}-rw`) && !refs.secrets.includes(SOURCE_SECRET) && refs.ca !== ca, `the backend still refers to the source: ${refs.url}, ${refs.secrets.join(", ")}`);
        const ours = JSON.stringify([...((await get("configmaps")).items as any[]).filter((c) => c.metadata.labels?.["synergyflow-db/stack"]), refs.spec]);
        assert(!ours.includes(`${SOURCE_CLUSTER}-rw`) && !ours.includes(SOURCE_SECRET) && !ours.includes(ca.trim().split("\n")[1]!), "an object of the stack still refers to the source");
        assert((await record())?.["phase"] === "done" && (await jobs()).length === 0, "record not at done, or a Job left");
        assert((await sourceSecrets()) === sourceSecretsBefore, "the dedicated cluster's Secrets changed");
        await stack.removeConfig("synergyflow-db:migration");
        await stack.up({ onOutput });
        assert((await record()) === undefined, "the record is left after the block was removed");
        await stack.up({ onOutput, expectNoChanges: true });
    });
    // The checks after these run without a migration: a failure above must not leave the block behind.
    if (!again) await stack.removeConfig("synergyflow-db:migration");
}
