// The migration's Job on the apps cluster, built pure: its scripts in a ConfigMap, the source's CA, and the Job
// that reaches the dedicated cluster in-cluster and the tenant database through the pooler as the backend does
// (login role, verify-ca), running the phase's script on the restricted psql container with every credential
// from a Secret, and reporting its result in its termination message. apps/migrationJob.ts registers them.
import { createHash } from "node:crypto";
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import { knownPoolerAddress, type StackConfig } from "../model/config";
import { SERVER_CA_DIR } from "../model/jdbc";
import { sourceHost } from "../model/migration/phases";
import { copyScript, fingerprintSql, rollbackScript } from "../model/migration/scripts";
import { isIpAddress } from "../model/parsers";
import { addressPeer, jobNetworkPolicy } from "./networkPolicy";
import { serverCaConfigMap } from "./datasource";
import { type CredentialFiles, credentialExports, credentialMount, credentialVolume, libpqEnv, restrictedPsqlContainer } from "./psqlContainer";
import { restrictedJobPod } from "./securityContext";

const SOURCE_CA_DIR = "/etc/synergyflow-db/source-ca";
/** The PostgreSQL port on a CNPG Cluster's instance pods. */
const POSTGRES_PORT = 5432;

export type MigrationJobKind = "copy" | "rollback";

/** What of the stack's config the migration's objects are built from (migration set). */
export type MigrationJobConfig = Pick<StackConfig, "migration" | "tenant" | "backend" | "pooler" | "networkPolicies">;

/** The tenant database as the backend reaches it (the pooler). */
export interface MigrationTarget {
    host: string;
    port: number;
    database: string;
    sslMode: string;
}

/** The Job's scripts: the fingerprint both sides are compared with, and the phase's own. */
export function migrationScripts(config: MigrationJobConfig, job: MigrationJobKind): Record<string, string> {
    const migration = config.migration!;
    const { tenant } = config;
    return {
        "fingerprint.sql": fingerprintSql(tenant.schemas),
        [`${job}.sh`]: job === "copy" ? copyScript({ schemas: tenant.schemas, replaceTarget: migration.replaceTarget, extensions: migration.extensions }) : rollbackScript(),
    };
}

/**
 * The Job's name: a new script, image or setting is a new Job under a new name (a Job's template cannot change),
 * and so a new result reader (keyed on the Job's name): everything that changes the Job is in the hash
 * (replaceTarget and the deadline too, which the script does not show).
 */
export function migrationJobName(config: MigrationJobConfig, job: MigrationJobKind, scripts: Record<string, string>): string {
    const { image, source, replaceTarget, timeoutSeconds, extensions, runAsUser, resources } = config.migration!;
    const hash = createHash("sha256").update(JSON.stringify({ image, source, replaceTarget, timeoutSeconds, extensions, runAsUser, resources, scripts })).digest("hex").slice(0, 8);
    return `${config.tenant.appName}-db-${job}-${hash}`;
}

export function migrationScriptsConfigMap(config: MigrationJobConfig, name: string, scripts: Record<string, string>, labels: Record<string, string>): k8s.types.input.core.v1.ConfigMap {
    return { metadata: { name, namespace: config.backend.namespace, labels }, data: scripts };
}

export function sourceCaConfigMap(config: MigrationJobConfig, certificate: string, labels: Record<string, string>): k8s.types.input.core.v1.ConfigMap {
    return serverCaConfigMap({ namespace: config.backend.namespace, labels, caCertificate: certificate });
}

export interface MigrationJobInputs {
    config: MigrationJobConfig;
    job: MigrationJobKind;
    name: string;
    target: MigrationTarget;
    scriptsConfigMapName: Input<string>;
    serverCaConfigMapName: Input<string>;
    sourceCaConfigMapName: Input<string>;
    labels: Record<string, string>;
}

/** The Job's pods: their own component, so that neither the backend's policy nor theirs selects the other's pods. */
export const migrationPodLabels = (labels: Record<string, string>) => ({ ...labels, "app.kubernetes.io/component": "migration" });

/** One policy for the copy and rollback Jobs' pods (fixed name: the Jobs' names change with every setting). */
export const migrationNetworkPolicyName = (config: MigrationJobConfig) => `${config.tenant.appName}-db-migration`;

/**
 * The Job's pods reach the tenant database (the pooler's address), the source (its Cluster's pods, or its
 * address) and DNS, nothing else; nothing reaches them. A DNS name cannot be in a policy: migration.egressCidrs
 * stands for it (the config check requires it then).
 */
export function migrationNetworkPolicy(config: MigrationJobConfig, target: MigrationTarget, labels: Record<string, string>): k8s.types.input.networking.v1.NetworkPolicy {
    const { source, egressCidrs } = config.migration!;
    const extra = egressCidrs.map(addressPeer);
    const poolerAddress = isIpAddress(target.host) ? target.host : knownPoolerAddress(config.pooler);
    const tcp = (port: number) => [{ protocol: "TCP", port }];
    const toSource =
        source.clusterName !== undefined
            ? { to: [{ podSelector: { matchLabels: { "cnpg.io/cluster": source.clusterName } } }], ports: tcp(POSTGRES_PORT) }
            : { to: [...(source.host !== undefined && isIpAddress(source.host) ? [addressPeer(source.host)] : []), ...extra], ports: tcp(source.port) };
    return jobNetworkPolicy({
        name: migrationNetworkPolicyName(config),
        namespace: config.backend.namespace,
        labels,
        podSelector: migrationPodLabels(labels),
        egress: [{ to: [...(poolerAddress ? [addressPeer(poolerAddress)] : []), ...extra], ports: tcp(target.port) }, toSource],
        config: config.networkPolicies,
    });
}

export function migrationJobSpec(inputs: MigrationJobInputs): k8s.types.input.batch.v1.JobSpec {
    const { config, job, target } = inputs;
    const migration = config.migration!;
    const { backend, tenant } = config;
    const sourceFiles: CredentialFiles = { volume: "source-credentials", dir: "/credentials/source", secretName: migration.source.secretName, usernameKey: "username", passwordKey: "password" };
    const targetFiles: CredentialFiles = { volume: "target-credentials", dir: "/credentials/target", secretName: backend.credentialsSecretName, usernameKey: backend.usernameEnv, passwordKey: backend.passwordEnv };
    return {
        // Never retried on its own: a failed copy leaves the source writable and says what to run.
        backoffLimit: 0,
        activeDeadlineSeconds: migration.timeoutSeconds,
        template: {
            metadata: { labels: migrationPodLabels(inputs.labels) },
            spec: restrictedJobPod(migration.runAsUser, {
                containers: [
                    restrictedPsqlContainer({
                        name: job,
                        image: migration.image,
                        command: ["bash", `/migration/${job}.sh`],
                        env: [
                            { name: "SOURCE_HOST", value: sourceHost(migration.source) },
                            { name: "SOURCE_PORT", value: String(migration.source.port) },
                            { name: "SOURCE_DATABASE", value: migration.source.database },
                            { name: "SOURCE_SSLMODE", value: "verify-full" },
                            { name: "SOURCE_SSLROOTCERT", value: `${SOURCE_CA_DIR}/ca.crt` },
                            { name: "REPLACE_TARGET", value: String(migration.replaceTarget) },
                            ...libpqEnv({
                                host: target.host,
                                port: String(target.port),
                                database: target.database,
                                sslMode: target.sslMode,
                                sslRootCert: `${SERVER_CA_DIR}/ca.crt`,
                                appName: `${tenant.appName}-db-${job}`,
                            }),
                        ],
                        credentials: { ...credentialExports(sourceFiles, "SOURCE_USER", "SOURCE_PASSWORD"), ...credentialExports(targetFiles) },
                        // The script writes its JSON result to the termination log; on failure the log's end says why.
                        reportsResult: true,
                        resources: migration.resources,
                        volumeMounts: [
                            { name: "scripts", mountPath: "/migration", readOnly: true },
                            { name: "server-ca", mountPath: SERVER_CA_DIR, readOnly: true },
                            { name: "source-ca", mountPath: SOURCE_CA_DIR, readOnly: true },
                            { name: "tmp", mountPath: "/tmp" },
                            credentialMount(sourceFiles),
                            credentialMount(targetFiles),
                        ],
                    }),
                ],
                volumes: [
                    { name: "scripts", configMap: { name: inputs.scriptsConfigMapName } },
                    { name: "server-ca", configMap: { name: inputs.serverCaConfigMapName } },
                    { name: "source-ca", configMap: { name: inputs.sourceCaConfigMapName } },
                    { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
                    credentialVolume(sourceFiles),
                    credentialVolume(targetFiles),
                ],
            }),
        },
    };
}
