// The tenant's PostgreSQL roles on the shared cluster, by the stack's role strategy (DESIGN.md §2 "Roles"); the
// entries themselves are model/roles.ts desiredRoles, passed in build/infraTenant.ts.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { databaseRoleManifest } from "../build/cnpg";
import type { TenantRolesInputs } from "../build/infraTenant";
import { ClusterRolePatch } from "../resources/clusterRolePatch";
import { ROLE_PATCH_FIELD_MANAGER } from "../model/rolePatch";

export interface TenantRolesArgs extends TenantRolesInputs {
    provider: k8s.Provider;
}

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
                    new k8s.apiextensions.CustomResource(`${name}-${role.name}`, databaseRoleManifest(role, sharedCluster, args.reclaimPolicy, args.labels), { parent: this, provider: args.provider }),
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
