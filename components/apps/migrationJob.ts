// The migration's Job on the apps cluster (components/migration/): it reaches the dedicated cluster in-cluster and
// the tenant database through the pooler as the backend does (login role, verify-ca), runs the phase's script
// under restricted Pod Security with every credential from a Secret, and reports its result.
import { createHash } from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../model/config";
import { JobResult } from "../resources/jobResult";
import { SERVER_CA_DIR } from "../model/jdbc";
import { sourceHost } from "../model/migration/phases";
import { copyScript, fingerprintSql, rollbackScript } from "../model/migration/scripts";
import { POSTGRES_UID, restrictedContainerSecurityContext, restrictedJobPod } from "../build/securityContext";

export interface MigrationJobArgs {
    config: StackConfig;
    /** The stack the printed `pulumi up --replace` command names. */
    stack: string;
    job: "copy" | "rollback";
    /** The tenant database as the backend reaches it (the pooler). */
    target: pulumi.Input<{ host: string; port: number; database: string; sslMode: string }>;
    /** The CA certificate of the dedicated cluster (ca.crt of its CA Secret, read live by the preflight). */
    sourceCaCertificate: string;
    serverCaConfigMapName: pulumi.Input<string>;
    labels: Record<string, string>;
    provider: k8s.Provider;
    dependsOn: pulumi.Resource[];
}

const SOURCE_CA_DIR = "/etc/synergyflow-db/source-ca";

/** The Job's name suffix: every migration setting the Job carries, and its scripts. */
export function migrationJobHash(migration: NonNullable<StackConfig["migration"]>, scripts: Record<string, string>): string {
    const { image, source, replaceTarget, timeoutSeconds, extensions } = migration;
    return createHash("sha256").update(JSON.stringify({ image, source, replaceTarget, timeoutSeconds, extensions, scripts })).digest("hex").slice(0, 8);
}

export class MigrationJob extends pulumi.ComponentResource {
    /** The Job's result as it reported it; undefined when no controller runs to finish it (waitForControllers). */
    public readonly result?: pulumi.Output<Record<string, unknown>>;

    constructor(name: string, args: MigrationJobArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:apps:MigrationJob", name, {}, opts);
        const { config } = args;
        const migration = config.migration!;
        const { backend, tenant } = config;
        const namespace = backend.namespace;
        const childOpts = { parent: this, provider: args.provider };
        const scripts = {
            "fingerprint.sql": fingerprintSql(tenant.schemas),
            [`${args.job}.sh`]: args.job === "copy" ? copyScript({ schemas: tenant.schemas, replaceTarget: migration.replaceTarget, extensions: migration.extensions }) : rollbackScript(),
        };
        // A new script, image or setting of the Job is a new Job under a new name (a Job's template cannot change),
        // and so a new JobResult: the result reader is keyed on the Job's name, so everything that changes the Job
        // (replaceTarget and the deadline too, which the script does not show) is in the name.
        const hash = migrationJobHash(migration, scripts);
        const scriptMap = new k8s.core.v1.ConfigMap(`${name}-scripts`, { metadata: { name: `${tenant.appName}-db-${args.job}-${hash}`, namespace, labels: args.labels }, data: scripts }, childOpts);
        const sourceCa = new k8s.core.v1.ConfigMap(`${name}-source-ca`, { metadata: { namespace, labels: args.labels }, data: { "ca.crt": args.sourceCaCertificate } }, childOpts);
        const fromSecret = (secret: string, key: string) => ({ valueFrom: { secretKeyRef: { name: secret, key } } });
        const job = new k8s.batch.v1.Job(
            `${name}-job`,
            {
                metadata: {
                    name: `${tenant.appName}-db-${args.job}-${hash}`,
                    namespace,
                    labels: args.labels,
                    // The JobResult below is the wait: it reports the script's own message when the Job fails.
                    annotations: { "pulumi.com/skipAwait": "true" },
                },
                spec: {
                    // Never retried on its own: a failed copy leaves the source writable and says what to run.
                    backoffLimit: 0,
                    activeDeadlineSeconds: migration.timeoutSeconds,
                    template: {
                        metadata: { labels: args.labels },
                        spec: restrictedJobPod(POSTGRES_UID, {
                            containers: [
                                {
                                    name: args.job,
                                    image: migration.image,
                                    command: ["bash", `/migration/${args.job}.sh`],
                                    env: pulumi.output(args.target).apply((target) => [
                                        { name: "SOURCE_HOST", value: sourceHost(migration.source) },
                                        { name: "SOURCE_PORT", value: String(migration.source.port) },
                                        { name: "SOURCE_DATABASE", value: migration.source.database },
                                        { name: "SOURCE_USER", ...fromSecret(migration.source.secretName, "username") },
                                        { name: "SOURCE_PASSWORD", ...fromSecret(migration.source.secretName, "password") },
                                        { name: "SOURCE_SSLMODE", value: "verify-full" },
                                        { name: "SOURCE_SSLROOTCERT", value: `${SOURCE_CA_DIR}/ca.crt` },
                                        { name: "REPLACE_TARGET", value: String(migration.replaceTarget) },
                                        { name: "PGHOST", value: target.host },
                                        { name: "PGPORT", value: String(target.port) },
                                        { name: "PGDATABASE", value: target.database },
                                        { name: "PGUSER", ...fromSecret(backend.credentialsSecretName, backend.usernameEnv) },
                                        { name: "PGPASSWORD", ...fromSecret(backend.credentialsSecretName, backend.passwordEnv) },
                                        { name: "PGSSLMODE", value: target.sslMode },
                                        { name: "PGSSLROOTCERT", value: `${SERVER_CA_DIR}/ca.crt` },
                                        { name: "PGAPPNAME", value: `${tenant.appName}-db-${args.job}` },
                                        { name: "PGCONNECT_TIMEOUT", value: "10" },
                                    ]),
                                    // The script writes its JSON result here; on failure the log's end says why.
                                    terminationMessagePolicy: "FallbackToLogsOnError",
                                    securityContext: restrictedContainerSecurityContext,
                                    resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "1Gi" } },
                                    volumeMounts: [
                                        { name: "scripts", mountPath: "/migration", readOnly: true },
                                        { name: "server-ca", mountPath: SERVER_CA_DIR, readOnly: true },
                                        { name: "source-ca", mountPath: SOURCE_CA_DIR, readOnly: true },
                                        { name: "tmp", mountPath: "/tmp" },
                                    ],
                                },
                            ],
                            volumes: [
                                { name: "scripts", configMap: { name: scriptMap.metadata.name } },
                                { name: "server-ca", configMap: { name: args.serverCaConfigMapName } },
                                { name: "source-ca", configMap: { name: sourceCa.metadata.name } },
                                { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
                            ],
                        }),
                    },
                },
            },
            // Its name is fixed: a replacement (a new script, `--replace` after a failure) deletes the old one first.
            { ...childOpts, dependsOn: args.dependsOn, deleteBeforeReplace: true },
        );
        const clusters = { infra: config.infraCluster, apps: config.appsCluster };
        this.result = config.waitForControllers
            ? new JobResult(
                  `${name}-result`,
                  // A minute past the Job's deadline: the Job's own failure (DeadlineExceeded) is what gets reported.
                  { clusters, cluster: "apps", namespace, jobName: job.metadata.name, timeoutSeconds: migration.timeoutSeconds + 60, rerun: pulumi.interpolate`pulumi up --stack ${args.stack} --replace '${job.urn}'` },
                  { parent: this, dependsOn: [job] },
              ).result
            : undefined;
        this.registerOutputs({ result: this.result });
    }
}
