// Every object the stack will create by name, with the config key that names it: what the preflight looks
// for in the live clusters before anything is registered. Pure: derived from the config alone.
import type { StackConfig } from "../config";
import type { ObjectRef } from "../kubeObject";
import { bootstrapSqlArgs, bootstrapSqlText, renderBootstrapSql } from "../bootstrapSql";
import { bootstrapObjectNames, databaseObjectName, databaseRoleObjectName } from "../names";
import { desiredRoles } from "../roles";
import { CREDENTIAL_SLOTS, loginCredentials } from "../rotation";
import { migrationRecordName } from "../migration/phases";

export interface PlannedObject {
    ref: ObjectRef;
    /** The config key (without the project prefix) that names it. */
    key: string;
    /** Made by a controller for an object of ours (the Pooler's Service, an ExternalSecret's Secret). */
    madeBy?: Pick<ObjectRef, "apiVersion" | "kind" | "name">;
}

const CNPG = "postgresql.cnpg.io/v1";
const ESO = "external-secrets.io/v1";
const NETPOL = "networking.k8s.io/v1";

/** The roles the program declares on the shared cluster (the tenant's, and the pooler auth role in vault mode). */
export function ourRoleNames(config: StackConfig): string[] {
    return desiredRoles(config).map((role) => role.name);
}

export function plannedObjects(config: StackConfig): PlannedObject[] {
    const { sharedCluster, tenant, pooler, backend, infraStack } = config;
    const objects: PlannedObject[] = [];
    const infra = (apiVersion: string, kind: string, name: string, key: string, madeBy?: PlannedObject["madeBy"]) =>
        objects.push({ ref: { cluster: "infra", apiVersion, kind, namespace: sharedCluster.namespace, name }, key, ...(madeBy ? { madeBy } : {}) });
    const apps = (apiVersion: string, kind: string, namespace: string, name: string, key: string, madeBy?: PlannedObject["madeBy"]) =>
        objects.push({ ref: { cluster: "apps", apiVersion, kind, namespace, name }, key, ...(madeBy ? { madeBy } : {}) });

    if (!infraStack) {
        infra(CNPG, "Pooler", pooler.name, "pooler.name");
        infra("v1", "Service", pooler.name, "pooler.name", { apiVersion: CNPG, kind: "Pooler", name: pooler.name });
        infra("policy/v1", "PodDisruptionBudget", pooler.podDisruptionBudgetName, "pooler.podDisruptionBudgetName");
        if (pooler.exposure.mode !== "external" || pooler.podMonitor) infra(NETPOL, "NetworkPolicy", pooler.exposure.networkPolicyName, "pooler.exposure.networkPolicyName");
        if (pooler.podMonitor) {
            infra("monitoring.coreos.com/v1", "PodMonitor", pooler.name, "pooler.name");
            infra("monitoring.coreos.com/v1", "PrometheusRule", pooler.name, "pooler.name");
        }
        const logins = loginCredentials(tenant);
        const secrets: [string, string][] = CREDENTIAL_SLOTS.map((slot) => [logins[slot].passwordSecretName, "tenant.passwordSecretName"]);
        if (pooler.authMode === "vault") secrets.push([pooler.authSecretName, "pooler.authSecretName"]);
        for (const [name, key] of secrets) {
            infra(ESO, "ExternalSecret", name, key);
            infra("v1", "Secret", name, key, { apiVersion: ESO, kind: "ExternalSecret", name });
        }
        infra(CNPG, "Database", databaseObjectName(sharedCluster.name, tenant.databaseName), "tenant.databaseName");
        if (sharedCluster.roleStrategy === "databaseRole") {
            for (const role of ourRoleNames(config)) infra(CNPG, "DatabaseRole", databaseRoleObjectName(role), role === pooler.authRoleName ? "pooler.authRoleName" : "tenant.roleName");
        }
        const names = bootstrapObjectNames(pooler.bootstrapJobName, pooler.bootstrapImage, bootstrapSqlText(renderBootstrapSql(bootstrapSqlArgs(config))));
        infra("batch/v1", "Job", names.job, "pooler.bootstrapJobName");
        infra("v1", "ConfigMap", names.configMap, "pooler.bootstrapJobName");
        if (config.networkPolicies.jobs) infra(NETPOL, "NetworkPolicy", pooler.bootstrapJobName, "pooler.bootstrapJobName");
    }
    apps(ESO, "ExternalSecret", backend.namespace, backend.credentialsSecretName, "backend.credentialsSecretName");
    apps("v1", "Secret", backend.namespace, backend.credentialsSecretName, "backend.credentialsSecretName", { apiVersion: ESO, kind: "ExternalSecret", name: backend.credentialsSecretName });
    apps("apps/v1", "Deployment", backend.namespace, backend.deploymentName, "backend.deploymentName");
    if (config.networkPolicies.backend.mode === "ingress") apps(NETPOL, "NetworkPolicy", backend.namespace, config.networkPolicies.backend.name, "networkPolicies.backend.name");
    // build/migrationJob.ts migrationNetworkPolicyName (model/ does not import the builders).
    if (config.migration && config.networkPolicies.jobs) apps(NETPOL, "NetworkPolicy", backend.namespace, `${tenant.appName}-db-migration`, "tenant.appName");
    if (config.migration) apps("v1", "ConfigMap", backend.namespace, migrationRecordName(config), "migration.phase");
    if (pooler.exposure.mode === "clusterMesh") apps("v1", "Service", sharedCluster.namespace, pooler.name, "pooler.name");
    return objects;
}
