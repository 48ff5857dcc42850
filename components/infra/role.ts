// The tenant's PostgreSQL roles on the shared cluster, by the stack's role strategy (DESIGN.md §2 "Roles").
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { SharedClusterConfig, StackConfig } from "../config";
import { type CnpgRoleFields, type DatabaseRoleSpec, customResource } from "../crds";
import type { ClusterAccessSpec } from "./clusterApi";
import { ClusterRolePatch } from "./clusterRolePatch";
import { type LiveCluster, sameRole } from "./rolePatch";

/** A login role with nothing but what an application needs: CNPG defaults login to false, so it is set. */
export function applicationRoleFields(name: string, connectionLimit: number, passwordSecretName: string, comment: string): CnpgRoleFields {
    return {
        name,
        ensure: "present",
        comment,
        login: true,
        inherit: true,
        connectionLimit,
        superuser: false,
        createdb: false,
        createrole: false,
        replication: false,
        bypassrls: false,
        passwordSecret: { name: passwordSecretName },
    };
}

/** The roles the program declares on the shared cluster, exactly as CNPG should hold them. */
export function desiredRoles(config: StackConfig): CnpgRoleFields[] {
    const { tenant, pooler } = config;
    const roles = [applicationRoleFields(tenant.roleName, tenant.connectionLimit, tenant.passwordSecretName, `${tenant.appName} application role (synergyflow-db)`)];
    if (pooler.authMode === "vault") {
        roles.push(applicationRoleFields(pooler.authRoleName, pooler.authRoleConnectionLimit, pooler.authSecretName, `${tenant.appName} PgBouncer auth_query role (synergyflow-db)`));
    }
    return roles;
}

/** What is wrong with the live Cluster's entries for our roles, for the `external` strategy. */
export function externalRoleProblems(cluster: LiveCluster, desired: CnpgRoleFields[]): string[] {
    const roles = cluster.spec.managed?.roles ?? [];
    const where = `Cluster ${cluster.metadata.namespace ?? ""}/${cluster.metadata.name} spec.managed.roles`;
    return desired.flatMap((role) => {
        const live = roles.find((r) => r["name"] === role.name);
        if (!live) return [`${where} has no entry for role ${JSON.stringify(role.name)}`];
        if (sameRole(live, role)) return [];
        const fields = Object.keys(role).filter((k) => JSON.stringify(live[k]) !== JSON.stringify((role as unknown as Record<string, unknown>)[k]));
        return [`${where} entry ${JSON.stringify(role.name)} differs in ${fields.map((f) => `${f} (live ${JSON.stringify(live[f])}, expected ${JSON.stringify((role as unknown as Record<string, unknown>)[f])})`).join(", ")}`];
    });
}

/** A DatabaseRole's object name: the role's, as Kubernetes spells names. */
export const databaseRoleObjectName = (roleName: string) => roleName.replace(/_/g, "-");

export interface TenantRolesArgs {
    sharedCluster: SharedClusterConfig;
    roles: CnpgRoleFields[];
    reclaimPolicy: "retain" | "delete";
    labels: Record<string, string>;
    /** For the clusterPatch strategy, which talks to the infra cluster itself. */
    access: Pick<ClusterAccessSpec, "context" | "kubeconfig">;
    /** 0 when no CNPG operator runs (test clusters): removal does not wait for the role to be dropped. */
    dropTimeoutSeconds: number;
    provider: k8s.Provider;
}

export const ROLE_PATCH_FIELD_MANAGER = "synergyflow-db-role-patch";

/**
 * The roles on the shared cluster by the stack's strategy. The preflight has already refused what would not
 * hold (a Flux-owned list for clusterPatch, missing external entries, shadowed DatabaseRoles).
 */
export class TenantRoles extends pulumi.ComponentResource {
    /** The resources the roles exist through (for dependsOn). */
    public readonly ready: pulumi.Resource[];
    /** What the strategy did, for the stack outputs. */
    public readonly status: string;

    constructor(name: string, args: TenantRolesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:infra:TenantRoles", name, {}, opts);
        const { sharedCluster } = args;
        const names = args.roles.map((r) => r.name).join(", ");
        switch (sharedCluster.roleStrategy) {
            case "databaseRole":
                this.ready = args.roles.map((role) =>
                    customResource<DatabaseRoleSpec>(
                        `${name}-${role.name}`,
                        {
                            apiVersion: "postgresql.cnpg.io/v1",
                            kind: "DatabaseRole",
                            metadata: { name: databaseRoleObjectName(role.name), namespace: sharedCluster.namespace, labels: args.labels },
                            // ensure: absent is not allowed on a DatabaseRole: removal = deleting it.
                            spec: { ...role, ensure: undefined, cluster: { name: sharedCluster.name }, databaseRoleReclaimPolicy: args.reclaimPolicy },
                        },
                        { parent: this, provider: args.provider },
                    ),
                );
                this.status = `databaseRole: ${names} as DatabaseRole objects`;
                break;
            case "clusterPatch":
                this.ready = [
                    new ClusterRolePatch(
                        `${name}-patch`,
                        {
                            access: { ...args.access, namespace: sharedCluster.namespace, clusterName: sharedCluster.name, fieldManager: ROLE_PATCH_FIELD_MANAGER },
                            roles: args.roles,
                            dropTimeoutSeconds: args.dropTimeoutSeconds,
                        },
                        // Removal marks our entries absent and waits for CNPG before deleting them.
                        { parent: this, retainOnDelete: args.reclaimPolicy === "retain" },
                    ),
                ];
                this.status = `clusterPatch: ${names} patched into spec.managed.roles`;
                break;
            case "external":
                this.ready = [];
                this.status = `external: ${names} declared by the Cluster's owner, verified live by the preflight`;
                break;
        }
        this.registerOutputs({ status: this.status });
    }
}
