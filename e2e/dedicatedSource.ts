// The dedicated cluster as SynergyFlow runs today, on the apps node: a CNPG Cluster `synergyflow-db` (one instance)
// in the backend's namespace, made by a CloudNativePG 1.27.4 operator of the apps cluster's own, its database shaped
// like the application's (integration/applicationData.ts), and today's backend (not this program's Deployment)
// writing to it. The migration's Jobs (e2e/migration.ts) copy from it for real.
import * as fs from "node:fs";
import * as path from "node:path";
import { Client } from "pg";
import { SERVER_CA_DIR, SERVER_CA_FILE, jdbcUrl } from "../components/model/jdbc";
import { type ApplicationDataSize, seedApplicationData } from "../integration/applicationData";
import { until } from "./checks";
import { type CnpgOperator, cnpgCrds, startCnpgOperator } from "./cnpgOperator";
import { type ApiServer, kubeRequest } from "./controlPlane";
import { createInstanceVolumes, podsSummary, realInstanceFields, waitForClusterHealthy } from "./node/cnpg";
import { REAL_NODE_LABEL, type RunningNode } from "./node/node";

/** The names CNPG gives the Cluster's objects (the stack's migration.source names the Cluster and the owner's Secret). */
export const SOURCE = {
    cluster: "synergyflow-db",
    database: "synergyflow",
    owner: "synergyflow",
    /** CNPG's <cluster>-app: the owner's basic-auth Secret. */
    ownerSecret: "synergyflow-db-app",
    caSecret: "synergyflow-db-ca",
    /** enableSuperuserAccess: the test's own sessions, which the copy leaves alone as it does the instance manager's. */
    superuserSecret: "synergyflow-db-superuser",
} as const;

/** Small enough to copy in seconds, with every shape the copy must carry. */
export const SOURCE_DATA: ApplicationDataSize = { users: 20000, tasks: 5000, executions: 2000, largeObjects: 20, largeObjectBytes: 65536 };

/** Today's backend: the backend image on the dedicated cluster with the owner's credentials, as SynergyFlow runs it. */
export const TODAYS_BACKEND = "synergyflow-backend-dedicated";
const TODAYS_BACKEND_LABELS = { "app.kubernetes.io/name": TODAYS_BACKEND };

export interface DedicatedSource {
    /** The instance healthy and the data seeded (awaited before the migration's checks). */
    ready: Promise<void>;
    /** A session on the instance from the host (the host routes the apps pod range), TLS verified against the Cluster's CA. */
    session(as: "owner" | "superuser"): Promise<Client>;
    /** One query as the owner or the superuser; its rows. */
    query(as: "owner" | "superuser", sql: string): Promise<any[]>;
    /** The uids of the Cluster, its PVC and its PV: the same uids mean nothing was deleted. */
    identity(): Promise<string>;
    /** Today's backend: its Deployment (1 pod on the apps node) and its pod's address once it serves. */
    startTodaysBackend(image: string): Promise<string>;
    stopTodaysBackend(): Promise<void>;
    operator: CnpgOperator;
}

export interface DedicatedSourceContext {
    apps: ApiServer;
    appsNode: RunningNode;
    operatorDir: string;
    namespace: string;
    /** The module schemas the owner creates before the seed. */
    schemas: string[];
    work: string;
    webhookPort: number;
    metricsPort: number;
    applyCrds: (server: ApiServer, crds: any[]) => Promise<void>;
}

/**
 * Applies CNPG's CRDs and starts its operator against the apps API server, creates the Cluster; `ready` resolves
 * once its instance is healthy and seeded. The caller registers `operator` to be stopped.
 */
export async function startDedicatedSource(ctx: DedicatedSourceContext): Promise<DedicatedSource> {
    const { apps, appsNode, namespace } = ctx;
    await ctx.applyCrds(apps, cnpgCrds(ctx.operatorDir));
    // The operator's own namespace (OPERATOR_NAMESPACE), as on the infra cluster.
    await kubeRequest(apps, "POST", "/api/v1/namespaces", { metadata: { name: "cnpg-system" } });
    const operatorWork = path.join(ctx.work, "apps-cnpg");
    fs.mkdirSync(operatorWork, { recursive: true });
    const operator = await startCnpgOperator(ctx.operatorDir, "v1.27.4", apps, operatorWork, ctx.webhookPort, ctx.metricsPort);
    await createInstanceVolumes(apps, appsNode, SOURCE.cluster, 1);
    await kubeRequest(apps, "POST", `/apis/postgresql.cnpg.io/v1/namespaces/${namespace}/clusters`, {
        apiVersion: "postgresql.cnpg.io/v1",
        kind: "Cluster",
        metadata: { name: SOURCE.cluster, namespace },
        spec: { instances: 1, ...realInstanceFields(appsNode), enableSuperuserAccess: true, bootstrap: { initdb: { database: SOURCE.database, owner: SOURCE.owner } } },
    });

    const secretData = async (name: string) => {
        const data = (await kubeRequest(apps, "GET", `/api/v1/namespaces/${namespace}/secrets/${name}`)).data as Record<string, string>;
        return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
    };
    const instanceAddress = async () => (await kubeRequest(apps, "GET", `/api/v1/namespaces/${namespace}/pods/${SOURCE.cluster}-1`)).status.podIP as string;
    const session = async (as: "owner" | "superuser") => {
        const credentials = await secretData(as === "owner" ? SOURCE.ownerSecret : SOURCE.superuserSecret);
        const ca = (await secretData(SOURCE.caSecret))["ca.crt"];
        // verify-ca: the pod's address is not among the certificate's names (its Services' are).
        const client = new Client({ host: await instanceAddress(), port: 5432, user: credentials["username"], password: credentials["password"], database: SOURCE.database, ssl: { ca, checkServerIdentity: () => undefined }, application_name: "synergyflow-db-e2e" });
        // A session still open when the run stops loses its instance: not an error of the run.
        client.on("error", () => undefined);
        await client.connect();
        return client;
    };
    const query = async (as: "owner" | "superuser", sql: string) => {
        const client = await session(as);
        try {
            return (await client.query(sql)).rows;
        } finally {
            await client.end().catch(() => undefined);
        }
    };
    const created = Date.now();
    const ready = (async () => {
        await waitForClusterHealthy(apps, namespace, SOURCE.cluster);
        const healthy = Date.now();
        const owner = await session("owner");
        try {
            for (const schema of ctx.schemas) await owner.query(`CREATE SCHEMA ${schema}`);
            await seedApplicationData(owner, SOURCE_DATA);
        } finally {
            await owner.end().catch(() => undefined);
        }
        console.log(`     the dedicated source: healthy ${((healthy - created) / 1000).toFixed(1)} s after its Cluster was created, seeded in ${((Date.now() - healthy) / 1000).toFixed(1)} s`);
    })();
    // Awaited by the migration's checks; a failure before then must not be unhandled.
    ready.catch(() => undefined);

    const deployments = `/apis/apps/v1/namespaces/${namespace}/deployments`;
    return {
        ready,
        session,
        query,
        operator,
        async identity() {
            const cluster = await kubeRequest(apps, "GET", `/apis/postgresql.cnpg.io/v1/namespaces/${namespace}/clusters/${SOURCE.cluster}`);
            const pvc = await kubeRequest(apps, "GET", `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${SOURCE.cluster}-1`);
            const pv = await kubeRequest(apps, "GET", `/api/v1/persistentvolumes/${pvc.spec.volumeName}`);
            return JSON.stringify({ cluster: cluster.metadata.uid, pvc: pvc.metadata.uid, pv: pv.metadata.uid, phase: pv.status?.phase });
        },
        async startTodaysBackend(image: string) {
            const credentialsDir = "/etc/synergyflow/credentials/";
            // The CA from CNPG's Secret (only ca.crt: the Secret also holds the CA's key).
            await kubeRequest(apps, "POST", deployments, {
                metadata: { name: TODAYS_BACKEND, namespace, labels: TODAYS_BACKEND_LABELS },
                spec: {
                    replicas: 1,
                    selector: { matchLabels: TODAYS_BACKEND_LABELS },
                    template: {
                        metadata: { labels: TODAYS_BACKEND_LABELS },
                        spec: {
                            automountServiceAccountToken: false,
                            nodeSelector: { [REAL_NODE_LABEL]: "true" },
                            securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } },
                            containers: [{
                                name: "backend",
                                image,
                                imagePullPolicy: "Never",
                                ports: [{ name: "http", containerPort: 8080 }],
                                env: [
                                    { name: "SPRING_DATASOURCE_URL", value: jdbcUrl({ host: `${SOURCE.cluster}-rw`, port: 5432, database: SOURCE.database, applicationName: TODAYS_BACKEND, sslMode: "verify-full" }) },
                                    { name: "SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE", value: "4" },
                                    { name: "SPRING_CONFIG_IMPORT", value: `configtree:${credentialsDir}` },
                                ],
                                readinessProbe: { httpGet: { path: "/actuator/health/readiness", port: "http" }, periodSeconds: 2 },
                                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                                volumeMounts: [{ name: "tmp", mountPath: "/tmp" }, { name: "ca", mountPath: SERVER_CA_DIR, readOnly: true }, { name: "credentials", mountPath: credentialsDir, readOnly: true }],
                            }],
                            volumes: [
                                { name: "tmp", emptyDir: {} },
                                { name: "ca", secret: { secretName: SOURCE.caSecret, items: [{ key: "ca.crt", path: path.basename(SERVER_CA_FILE) }] } },
                                { name: "credentials", secret: { secretName: SOURCE.ownerSecret, items: [{ key: "username", path: "spring.datasource.username" }, { key: "password", path: "spring.datasource.password" }] } },
                            ],
                        },
                    },
                },
            });
            const selector = encodeURIComponent(`app.kubernetes.io/name=${TODAYS_BACKEND}`);
            return until(`${TODAYS_BACKEND}'s pod ready`, async () => {
                const pod = ((await kubeRequest(apps, "GET", `/api/v1/namespaces/${namespace}/pods?labelSelector=${selector}`)).items as any[]).find((p) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True"));
                return pod?.status.podIP as string | undefined;
            }, 120000, () => podsSummary(apps, namespace));
        },
        async stopTodaysBackend() {
            await kubeRequest(apps, "DELETE", `${deployments}/${TODAYS_BACKEND}`).catch(() => undefined);
        },
    };
}
