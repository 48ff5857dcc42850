// Reads, in one place and before any resource is registered, everything the preflight decides on: the shared
// Cluster, its DatabaseRoles and CA Secret, the ClusterSecretStores, the apps namespace, and every object the
// stack will create by name (with the controller-owner of those a controller makes for us).
import type { StackConfig } from "../config";
import type { ClusterSide, KubeObject, LiveReader } from "../kubeObject";
import { type PlannedObject, plannedObjects } from "./plannedObjects";
import { migrationRecordName, sourceCaSecretName } from "../migration/phases";

export interface LivePlatform {
    /** The stack whose ownership label marks objects as ours. */
    stack: string;
    /** The shared Cluster; undefined when it does not exist (or in split mode, where it is not read). */
    cluster?: KubeObject;
    /** DatabaseRoles in the Cluster's namespace; undefined when the infra cluster does not serve the kind. */
    databaseRoles?: KubeObject[];
    /** Poolers in the Cluster's namespace (CNPG's own pooler role holds connections for those with operator auth). */
    poolers?: KubeObject[];
    /** The Secret whose ca.crt signs the cluster's server certificate. */
    caSecret?: KubeObject;
    /** The superuser Secret (read only in vault pooler auth, which needs it). */
    superuserSecret?: KubeObject;
    stores: Partial<Record<ClusterSide, KubeObject>>;
    appsNamespace?: KubeObject;
    /** Pods in the backend's namespace (a rotation waits until none runs on an older credentials pair). */
    appsPods: KubeObject[];
    /** The migration's record of the last run, and (with a migration block) the source's CA and credentials. */
    migration: { record?: KubeObject; sourceCa?: KubeObject; sourceSecret?: KubeObject };
    planned: { object: PlannedObject; live?: KubeObject; maker?: KubeObject }[];
}

const CNPG = "postgresql.cnpg.io/v1";

/** The CA Secret's name: the Cluster's spec.certificates.serverCASecret, else CNPG's default <cluster>-ca. */
export function caSecretName(cluster: KubeObject | undefined, clusterName: string): string {
    const certificates = cluster?.spec?.["certificates"] as { serverCASecret?: string } | undefined;
    return certificates?.serverCASecret || `${clusterName}-ca`;
}

/** The superuser Secret's name: spec.superuserSecret.name, else CNPG's default <cluster>-superuser. */
export function superuserSecretName(cluster: KubeObject | undefined, clusterName: string): string {
    const secret = cluster?.spec?.["superuserSecret"] as { name?: string } | undefined;
    return secret?.name || `${clusterName}-superuser`;
}

async function readMigration(config: StackConfig, reader: LiveReader): Promise<LivePlatform["migration"]> {
    const get = (kind: string, name: string) => reader.get({ cluster: "apps", apiVersion: "v1", kind, namespace: config.backend.namespace, name });
    const source = config.migration?.source;
    const [record, sourceCa, sourceSecret] = await Promise.all([get("ConfigMap", migrationRecordName(config)), source ? get("Secret", sourceCaSecretName(source)) : undefined, source ? get("Secret", source.secretName) : undefined]);
    return { ...(record ? { record } : {}), ...(sourceCa ? { sourceCa } : {}), ...(sourceSecret ? { sourceSecret } : {}) };
}

export async function readLivePlatform(config: StackConfig, reader: LiveReader, stack: string): Promise<LivePlatform> {
    const { sharedCluster, externalSecrets, backend } = config;
    const ns = sharedCluster.namespace;
    const infraSide = !config.infraStack;
    const store = (cluster: ClusterSide, name: string) => reader.get({ cluster, apiVersion: "external-secrets.io/v1", kind: "ClusterSecretStore", name });
    const cluster = infraSide ? await reader.get({ cluster: "infra", apiVersion: CNPG, kind: "Cluster", namespace: ns, name: sharedCluster.name }) : undefined;
    const secret = (name: string) => reader.get({ cluster: "infra", apiVersion: "v1", kind: "Secret", namespace: ns, name });
    // Every other read at once: only the two Secrets' names depend on the Cluster.
    const [planned, databaseRoles, poolers, caSecret, superuserSecret, infraStore, appsStore, appsNamespace, appsPods, migration] = await Promise.all([
        Promise.all(
            plannedObjects(config).map(async (object) => {
                const live = await reader.get(object.ref);
                const maker = live && object.madeBy ? await reader.get({ ...object.ref, ...object.madeBy }) : undefined;
                return { object, ...(live ? { live } : {}), ...(maker ? { maker } : {}) };
            }),
        ),
        infraSide ? reader.list("infra", CNPG, "DatabaseRole", ns) : [],
        infraSide ? reader.list("infra", CNPG, "Pooler", ns).then((poolers) => poolers ?? []) : [],
        infraSide ? secret(caSecretName(cluster, sharedCluster.name)) : undefined,
        infraSide && config.pooler.authMode === "vault" ? secret(superuserSecretName(cluster, sharedCluster.name)) : undefined,
        infraSide ? store("infra", externalSecrets.infraStore) : undefined,
        store("apps", externalSecrets.appsStore),
        reader.get({ cluster: "apps", apiVersion: "v1", kind: "Namespace", name: backend.namespace }),
        reader.list("apps", "v1", "Pod", backend.namespace).then((pods) => pods ?? []),
        readMigration(config, reader),
    ]);
    return {
        stack,
        cluster,
        databaseRoles,
        poolers,
        caSecret,
        superuserSecret,
        stores: { ...(infraSide ? { infra: infraStore } : {}), apps: appsStore },
        appsNamespace,
        appsPods,
        migration,
        planned,
    };
}
