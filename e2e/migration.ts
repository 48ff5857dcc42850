// The migration's phases through the real engine (`migration.phase`, one `up` each) against the apps API server,
// with the PodSecurity admission enforcing "restricted" on the namespace, and against the dedicated cluster as
// SynergyFlow runs it today (e2e/dedicatedSource.ts: a CNPG Cluster on the apps node, its data shaped like the
// application's, today's backend writing to it). Every Job runs for real on the apps node: its psql, pg_dump and
// pg_restore copy from the source's instance to the shared cluster through the pooler's address. What this shows:
// the order (writers stopped before the Job starts), a refusal and a killed copy leaving the source writable, the
// verified copy's result in `pulumi stack output` and the record, the backend on the pooler after the cutover and
// on the source after a rollback (serving in both), the preflight refusing an illegal move, and the source Cluster
// and its volume never deleted.
import { isDeepStrictEqual } from "node:util";
import type { Stack } from "@pulumi/pulumi/automation";
import type { StackConfig } from "../components/model/config";
import { containerSecretNames } from "../components/build/psqlContainer";
import { migrationRecordName } from "../components/model/migration/phases";
import { APPLICATION_EXTENSIONS, APPLICATION_TABLES, applicationRows } from "../integration/applicationData";
import { type AppsNodeChecks, backendRequest } from "./appsNode";
import { StopPolling, assert, check, until } from "./checks";
import { type ApiServer, kubeRequest } from "./controlPlane";
import { type DedicatedSource, SOURCE, SOURCE_DATA, TODAYS_BACKEND } from "./dedicatedSource";
import { podProcesses } from "./node/podProcesses";
import type { PostgresOnNode } from "./postgres";

export interface MigrationContext {
    stack: Stack;
    apps: ApiServer;
    config: StackConfig;
    onOutput: (text: string) => void;
    output: string[];
    /** The preview's error message (fails when the preview passes). */
    previewError: () => Promise<string>;
    /** Every credential of the run, which the state and the engine output must not contain (the source's are added). */
    credentials: string[];
    source: DedicatedSource;
    /** The apps node's images: today's backend runs `backend`, the Jobs `psql` (migration.image). */
    images: { backend: string; psql: string };
    /** The program's backend pods, for requests. */
    backend: AppsNodeChecks;
    /** The shared cluster's PostgreSQL (psql pods on the infra node). */
    shared: PostgresOnNode;
}

/** The table the backend writes (the backend image's default), on either side. */
const WORK_TABLE = "synergyflow_tasks.backend_work";

/**
 * Signals the Job's script (its container's command, pid 1 there) from the host, as the kubelet signals a container
 * it stops (an eviction, a deadline, a deleted Job).
 */
function signalJobScript(podUid: string, script: string, signal: NodeJS.Signals): number {
    const running = podProcesses(podUid).find((p) => p.containerPid === 1 && p.argv[0] === "bash" && p.argv[1] === script);
    if (!running) throw new Error(`no process runs ${script} in pod ${podUid}`);
    process.kill(running.pid, signal);
    return running.pid;
}

export async function migrationChecks(ctx: MigrationContext): Promise<void> {
    const { stack, apps, config, onOutput, source } = ctx;
    const ns = config.backend.namespace;
    const app = config.tenant.appName;
    const get = (path: string) => kubeRequest(apps, "GET", `/api/v1/namespaces/${ns}/${path}`);
    const deployment = () => kubeRequest(apps, "GET", `/apis/apps/v1/namespaces/${ns}/deployments/${config.backend.deploymentName}`);
    const jobs = async () => ((await kubeRequest(apps, "GET", `/apis/batch/v1/namespaces/${ns}/jobs`)).items as any[]).filter((j) => j.metadata.name.startsWith(`${app}-db-`));
    const record = async () => (await get(`configmaps/${migrationRecordName(config)}`).catch(() => undefined))?.data as Record<string, string> | undefined;
    const secretData = async (name: string) => (await get(`secrets/${name}`)).data as Record<string, string>;
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
    /** Rows of the work table on the shared side, read as the login role the backend's Secret holds (a psql pod on the infra node). */
    const sharedWorkRows = async () => {
        const credentials = await secretData(config.backend.credentialsSecretName);
        const decode = (key: string) => Buffer.from(credentials[key] ?? "", "base64").toString();
        return Number((await ctx.shared.psql(decode(config.backend.usernameEnv), decode(config.backend.passwordEnv), config.tenant.databaseName, `SELECT count(*) FROM ${WORK_TABLE}`)).trim());
    };
    const sourceWorkRows = async () => Number((await source.query("owner", `SELECT count(*) AS n FROM ${WORK_TABLE}`))[0].n);
    const sourceReadOnly = async () => (await source.query("owner", "SHOW default_transaction_read_only"))[0].default_transaction_read_only as string;

    const sourceSecrets = async () => JSON.stringify(await Promise.all([SOURCE.caSecret, SOURCE.ownerSecret].map(secretData)));

    const setMigration = (phase: string, replaceTarget = false, extensions: Record<string, string> = APPLICATION_EXTENSIONS) =>
        stack.setConfig("synergyflow-db:migration", { value: JSON.stringify({ phase, source: { clusterName: SOURCE.cluster, database: SOURCE.database, secretName: SOURCE.ownerSecret }, replaceTarget, timeoutSeconds: 120, image: ctx.images.psql, extensions }) });

    /** The first pod of the phase's Job (it may have ended already: its spec and its start are what is inspected). */
    const jobPod = (job: "copy" | "rollback", upEnded: () => boolean, known: string[] = []) =>
        until(`the ${job} Job's pod`, async () => {
            if (upEnded()) throw new StopPolling(`up ended before the ${job} Job's pod existed`);
            return (((await get("pods").catch(() => undefined))?.items ?? []) as any[]).find((p) => String(p.metadata.labels?.["job-name"] ?? "").startsWith(`${app}-db-${job}-`) && !known.includes(p.metadata.uid));
        }, 120000);
    /** `up` while `during` looks at the phase's Job: both must finish; returns up's error message, if it failed. */
    const upWithJob = async (job: "copy" | "rollback", during: (pod: any) => Promise<void>, replace: string[] = []) => {
        let ended = false;
        const known = (((await get("pods")).items ?? []) as any[]).map((p) => p.metadata.uid as string);
        const up = stack.up({ onOutput, ...(replace.length ? { replace } : {}) }).finally(() => (ended = true));
        const [upResult, watching] = await Promise.allSettled([up, jobPod(job, () => ended, known).then(during)]);
        const upError = upResult.status === "rejected" ? String((upResult.reason as Error).message ?? upResult.reason) : undefined;
        if (watching.status === "rejected") throw new Error(`${String((watching.reason as Error).message ?? watching.reason)}${upError ? `\nup: ${upError.slice(-1500)}` : ""}`);
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
        for (const secret of [SOURCE.ownerSecret, config.backend.credentialsSecretName]) assert(mounted.includes(secret), `the Job does not mount Secret ${secret} (it mounts ${mounted.join(", ")})`);
        assert(env.find((e) => e.name === "SOURCE_HOST")?.value === `${SOURCE.cluster}-rw` && env.find((e) => e.name === "SOURCE_SSLMODE")?.value === "verify-full", "the source is not reached at its -rw Service with verify-full");
        const job = await kubeRequest(apps, "GET", `/apis/batch/v1/namespaces/${ns}/jobs/${pod.metadata.labels["job-name"]}`);
        assert(job.spec.activeDeadlineSeconds === 120 && job.spec.backoffLimit === 0, `the Job's deadline is not migration.timeoutSeconds, or it retries: ${JSON.stringify(job.spec)}`);
    };

    // Today's backend writes to the dedicated cluster from the first check until the copy stops it.
    let todays = "";
    const todaysWork = () => backendRequest(todays, "/work", "POST").catch((error: Error) => ({ status: 0, body: error.message }));
    let ca = "";
    let sourceSecretsBefore = "";
    let sourceIdentity = "";
    const sourceRuns = await check(`the dedicated source runs on the apps node as SynergyFlow has it today (CNPG 1.27.4, seeded with ${applicationRows(SOURCE_DATA)} rows in ${APPLICATION_TABLES} tables; its ${SOURCE_DATA.largeObjects} large objects there); today's backend writes to it as the owner`, async () => {
        await source.ready;
        // The dedicated cluster's own credentials, which the state and the engine output must not contain.
        for (const secret of [SOURCE.ownerSecret, SOURCE.superuserSecret]) ctx.credentials.push(Buffer.from((await secretData(secret))["password"]!, "base64").toString());
        ca = Buffer.from((await secretData(SOURCE.caSecret))["ca.crt"]!, "base64").toString();
        sourceSecretsBefore = await sourceSecrets();
        sourceIdentity = await source.identity();
        todays = await source.startTodaysBackend(ctx.images.backend);
        const reply = await todaysWork();
        assert(reply.status === 200 && reply.body.currentUser === SOURCE.owner, `today's backend: ${JSON.stringify(reply)}`);
        const [{ n }] = await source.query("owner", "SELECT count(*) AS n FROM pg_catalog.pg_largeobject_metadata");
        assert(Number(n) === SOURCE_DATA.largeObjects, `${n} large objects on the source`);
    });
    if (!sourceRuns) return;

    await check("migration copy: the preview refuses a source extension the owner cannot create on the shared cluster, naming it and the remedy", async () => {
        await setMigration("copy", false, { ...APPLICATION_EXTENSIONS, pg_stat_statements: "copy" });
        try {
            const message = await ctx.previewError();
            assert(message.includes(`synergyflow-db:migration.extensions: the copy cannot create "pg_stat_statements" on the shared cluster`) && message.includes("CNPG's Database spec.extensions"), `not the refusal: ${message.slice(0, 1500)}`);
        } finally {
            await setMigration("copy");
        }
    });
    await check("migration copy onto a shared database that holds the backend's table already: the backend is at 0 before the Job starts (restricted, credentials from Secrets); the Job refuses naming migration.replaceTarget; up fails with its message and the command that runs it again; the source is writable again; the record does not move", async () => {
        await setMigration("copy");
        const from = ctx.output.length;
        await stack.preview({ onOutput });
        assert(ctx.output.slice(from).join("").includes(`migration phase "copy" (copy Job): scales the backend to 0`), "the preview does not say what the copy phase does");
        const error = await upWithJob("copy", writersStoppedAndRestricted);
        assert(error !== undefined && error.includes(`Job ${ns}/${app}-db-copy-`) && error.includes("copy refused: the target database holds") && error.includes("set synergyflow-db:migration.replaceTarget true"), `up did not fail with the Job's refusal: ${error?.slice(-1500)}`);
        assert(/--replace '[^']+'/.test(error) && error.includes("pulumi up --stack local --replace"), `no command to run it again in: ${error.slice(-800)}`);
        assert((await sourceReadOnly()) === "off", "the source is read-only after the refused copy");
        assert((await record()) === undefined, `the record moved after a failed copy: ${JSON.stringify(await record())}`);
        await until("today's backend writing again", async () => ((await todaysWork()).status === 200 ? true : undefined), 30000);
    });

    let rerun: string[] = [];
    let lockHolder: Awaited<ReturnType<DedicatedSource["session"]>> | undefined;
    await check("migration copy killed mid-way (SIGTERM to the Job's script while pg_dump waits on a lock): up fails naming the Job and the command to run it again; the source is writable again, today's backend writes again without a restart; the record does not move", async () => {
        await setMigration("copy", true);
        // A superuser's lock (the copy leaves superuser sessions alone, as it does the instance manager's) holds pg_dump.
        lockHolder = await source.session("superuser");
        await lockHolder.query("BEGIN");
        await lockHolder.query("LOCK TABLE synergyflow_users.users IN ACCESS EXCLUSIVE MODE");
        let during = "";
        const error = await upWithJob("copy", async (pod) => {
            try {
                // (pg_dump's session is the owner's, named by the Job's PGAPPNAME: the only one of the owner's that waits on a lock.)
                await until("pg_dump waiting on the lock", async () => (Number((await source.query("superuser", `SELECT count(*) AS n FROM pg_catalog.pg_stat_activity WHERE usename = '${SOURCE.owner}' AND wait_event_type = 'Lock' AND query LIKE 'LOCK TABLE%'`))[0].n) > 0 ? true : undefined), 60000);
                const readOnly = await sourceReadOnly();
                const write = await todaysWork();
                assert(readOnly === "on" && write.status !== 200, `mid-copy the source is not read-only for new sessions (${readOnly}) or today's backend still writes (${JSON.stringify(write).slice(0, 300)})`);
                during = `read-only for new sessions; today's backend got HTTP ${write.status} ${JSON.stringify(write.body).slice(0, 160)}`;
                signalJobScript(pod.metadata.uid, "/migration/copy.sh", "SIGTERM");
            } catch (failure) {
                // Without the kill the Job would wait on the lock until its deadline.
                await lockHolder!.query("ROLLBACK");
                throw failure;
            }
        });
        await lockHolder.query("ROLLBACK");
        assert(error !== undefined && error.includes(`Job ${ns}/${app}-db-copy-`) && error.includes("copy stopped by SIGTERM") && error.includes("is writable again"), `up did not fail with the killed Job's message: ${error?.slice(-1500)}`);
        const replace = /--replace '([^']+)'/.exec(error);
        assert(replace && error.includes("pulumi up --stack local --replace"), `no command to run it again in: ${error.slice(-800)}`);
        rerun = [replace[1]!];
        assert((await sourceReadOnly()) === "off", "the source is read-only after the killed copy");
        await until("today's backend writing again", async () => ((await todaysWork()).status === 200 ? true : undefined), 30000);
        assert((await record()) === undefined, `the record moved after a killed copy: ${JSON.stringify(await record())}`);
        console.log(`     mid-copy: ${during}; after the kill: ${error.split("\n").find((l) => l.includes("writable again"))?.trim()}`);
    });
    await lockHolder?.end().catch(() => undefined);

    let copiedRows = 0;
    await check("migration copy: the printed command runs a new Job that copies for real (today's backend writing until the source turns read-only, a superuser session left alone): every committed row on the target, definitions equal; its result reaches `pulumi stack output migration` and the record", async () => {
        assert(rerun.length === 1, "no command from the killed copy");
        const before = (await jobs()).map((j) => j.metadata.uid);
        // A superuser session in the database through the copy, as the instance manager's are.
        const superuser = await source.session("superuser");
        const committed: number[] = [];
        let writing = true;
        const writer = (async () => {
            while (writing) {
                const reply = await todaysWork();
                if (reply.status === 200) committed.push(Number(reply.body.id));
                else await new Promise((r) => setTimeout(r, 100));
            }
        })();
        let error: string | undefined;
        try {
            error = await upWithJob("copy", async () => undefined, rerun);
        } finally {
            writing = false;
            await writer;
        }
        assert(error === undefined, `up failed: ${error?.slice(-1500)}`);
        assert(((await superuser.query("SELECT 1 AS one")).rows[0].one) === 1, "the superuser session did not survive the copy");
        await superuser.end();
        const after = await jobs();
        assert(after.length === 1 && !before.includes(after[0].metadata.uid) && after[0].status?.succeeded === 1, `Jobs: ${JSON.stringify(after.map((j) => [j.metadata.name, j.status]))}`);
        const output = (await stack.outputs())["migration"]?.value;
        const result = output?.result;
        const sourceRows = await sourceWorkRows();
        assert(result?.checksumsEqual === true && result.definitionsEqual === true && result.tables === APPLICATION_TABLES + 1 && result.rows === applicationRows(SOURCE_DATA) + sourceRows && output.phase === "copy", `stack output migration: ${JSON.stringify(output)}`);
        // Left: the superuser's session, and today's backend reconnected (read-only: its writes fail, below); nothing else.
        const left = result.sessionsLeft as { user: string; superuser: boolean; application: string }[];
        assert(left.some((s) => s.superuser && s.application === "synergyflow-db-e2e") && left.every((s) => s.superuser || s.application === TODAYS_BACKEND), `sessions left on the source: ${JSON.stringify(left)}`);
        const recorded = await record();
        assert(recorded?.["phase"] === "copy" && isDeepStrictEqual(JSON.parse(recorded["copyResult"] ?? "null"), result), `record: ${JSON.stringify(recorded)}`);
        // Every row today's backend was told was committed is on the source, and the target has the source's rows.
        const ids = committed.length ? (await source.query("owner", `SELECT count(*) AS n FROM ${WORK_TABLE} WHERE id IN (${committed.join(",")})`))[0].n : 0;
        assert(Number(ids) === committed.length, `${committed.length - Number(ids)} rows committed by today's backend are not on the source`);
        copiedRows = await sharedWorkRows();
        assert(copiedRows === sourceRows, `the work table: ${sourceRows} rows on the source, ${copiedRows} on the shared side`);
        assert((await sourceReadOnly()) === "on" && (await todaysWork()).status !== 200, "the source is writable after the copy");
        await stack.up({ onOutput, expectNoChanges: true });
        console.log(`     ${JSON.stringify(result)}; today's backend committed ${committed.length} rows during the up`);
    });
    // As the README says: today's Deployment goes to 0 too (the program does not own it).
    await source.stopTodaysBackend();
    await check(`migration: "done" straight from "copy" is refused at preview naming the key; nothing changes`, async () => {
        await setMigration("done");
        try {
            const message = await ctx.previewError();
            assert(message.includes(`synergyflow-db:migration.phase: "done" cannot follow phase "copy"`) && message.includes(`allowed next: "copy" | "cutover"`), `not the refusal: ${message.slice(0, 1500)}`);
        } finally {
            await setMigration("copy");
        }
    });
    const SHARED_WRITES = 3;
    await check(`migration cutover: the datasource points at the pooler, the backend is back at its replicas and serves from the shared database (${SHARED_WRITES} rounds of requests through each pod); the copy Job is gone`, async () => {
        await setMigration("cutover");
        await stack.up({ onOutput });
        const refs = await backendRefs();
        assert(refs.replicas === config.backend.replicas && refs.available === config.backend.replicas, `backend: ${refs.available}/${refs.replicas}`);
        assert(refs.url.includes(`//${config.pooler.exposure.loadBalancerIP}:`) && refs.secrets.every((s) => s === config.backend.credentialsSecretName), `datasource ${refs.url}, Secrets ${refs.secrets.join(", ")}`);
        for (let i = 0; i < SHARED_WRITES; i++) {
            for (const reply of await ctx.backend.workThroughEachPod()) assert(reply.status === 200 && String(reply.body.loginRole).startsWith(config.tenant.roleName), `a request: ${JSON.stringify(reply)}`);
        }
        assert((await jobs()).length === 0, "the copy Job was not removed");
        assert((await record())?.["phase"] === "cutover", "record not at cutover");
    });
    await check("migration rollback from cutover, first run: the backend is at 0 before the rollback Job starts; the Job reports the backend's writes on the shared side per table; the source is writable", async () => {
        await setMigration("rollback");
        const error = await upWithJob("rollback", writersStoppedAndRestricted);
        assert(error === undefined, `up failed: ${error?.slice(-1500)}`);
        const report = (await stack.outputs())["migration"]?.value?.result;
        const written = SHARED_WRITES * config.backend.replicas;
        assert(report?.sourceWritable === true && report.tablesChangedOnShared === 1 && isDeepStrictEqual(report.rowCounts, { [WORK_TABLE]: { source: copiedRows, shared: copiedRows + written } }) && isDeepStrictEqual(report.largeObjects, { source: SOURCE_DATA.largeObjects, shared: SOURCE_DATA.largeObjects }), `stack output migration: ${JSON.stringify(report)}`);
        assert((await sourceReadOnly()) === "off", "the source is still read-only after the rollback Job");
        assert((await record())?.["phase"] === "rollback" && (await deployment()).spec.replicas === 0, "record or replicas");
        console.log(`     ${JSON.stringify(report)}`);
    });
    await check("migration rollback, second run: the backend runs on the dedicated cluster with its own Secret and CA (verify-full) and serves from it; the shared side is not referenced", async () => {
        await stack.up({ onOutput });
        const refs = await backendRefs();
        assert(refs.replicas === config.backend.replicas && refs.available === config.backend.replicas, `backend: ${refs.available}/${refs.replicas}`);
        assert(refs.url.includes(`//${SOURCE.cluster}-rw:5432/${SOURCE.database}`) && refs.url.includes("sslmode=verify-full"), `datasource ${refs.url}`);
        assert(refs.secrets.includes(SOURCE.ownerSecret) && !refs.secrets.includes(config.backend.credentialsSecretName), `Secrets ${refs.secrets.join(", ")}`);
        assert(refs.ca === ca, "the backend's CA is not the dedicated cluster's");
        const before = await sourceWorkRows();
        const replies = await ctx.backend.workThroughEachPod();
        assert(replies.every((r) => r.status === 200 && r.body.loginRole === SOURCE.owner), `requests: ${JSON.stringify(replies).slice(0, 600)}`);
        assert((await sourceWorkRows()) === before + replies.length, "the backend's writes did not land on the source");
        await stack.up({ onOutput, expectNoChanges: true });
    });
    const again = await check("migration again: copy (replaceTarget) -> cutover -> done; nothing refers to the source afterwards; its Cluster, volume and Secrets are untouched; removing the block deletes the record", async () => {
        await setMigration("copy", true);
        const error = await upWithJob("copy", writersStoppedAndRestricted);
        assert(error === undefined, `copy: ${error?.slice(-1500)}`);
        assert((await stack.outputs())["migration"]?.value?.result?.checksumsEqual === true, "the second copy did not verify");
        await setMigration("cutover", true);
        await stack.up({ onOutput });
        await setMigration("done", true);
        await stack.up({ onOutput });
        const refs = await backendRefs();
        assert(!refs.url.includes(`${SOURCE.cluster}-rw`) && !refs.secrets.includes(SOURCE.ownerSecret) && refs.ca !== ca, `the backend still refers to the source: ${refs.url}, ${refs.secrets.join(", ")}`);
        const ours = JSON.stringify([...((await get("configmaps")).items as any[]).filter((c) => c.metadata.labels?.["synergyflow-db/stack"]), refs.spec]);
        assert(!ours.includes(`${SOURCE.cluster}-rw`) && !ours.includes(SOURCE.ownerSecret) && !ours.includes(ca.trim().split("\n")[1]!), "an object of the stack still refers to the source");
        assert((await record())?.["phase"] === "done" && (await jobs()).length === 0, "record not at done, or a Job left");
        assert((await sourceSecrets()) === sourceSecretsBefore, "the dedicated cluster's Secrets changed");
        assert((await source.identity()) === sourceIdentity, `the source Cluster, its PVC or its PV was replaced: ${await source.identity()} (before: ${sourceIdentity})`);
        await stack.removeConfig("synergyflow-db:migration");
        await stack.up({ onOutput });
        assert((await record()) === undefined, "the record is left after the block was removed");
        await stack.up({ onOutput, expectNoChanges: true });
    });
    // The checks after these run without a migration: a failure above must not leave the block behind.
    if (!again) await stack.removeConfig("synergyflow-db:migration");
}
