// The tenant's PostgreSQL roles on the shared cluster, by the stack's role strategy (DESIGN.md §2 "Roles").
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { SharedClusterConfig } from "../config";
import { type CnpgRoleFields, type DatabaseRoleSpec, customResource } from "../crds";
import type { ClusterAccessSpec } from "./clusterApi";
import { ClusterRolePatch } from "./clusterRolePatch";
import { type LiveCluster, foreignOwnerWarning, foreignRoleOwners, readRoleEntries, sameRole } from "./rolePatch";

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

/** What is wrong with the live Cluster's entries for our roles, for the `external` strategy. */
export function externalRoleProblems(cluster: LiveCluster, desired: CnpgRoleFields[]): string[] {
    const roles = cluster.spec.managed?.roles ?? [];
    const where = `Cluster ${cluster.metadata.namespace ?? ""}/${cluster.metadata.name} spec.managed.roles`;
    return desired.flatMap((role) => {
        const live = roles.find((r) => r["name"] === role.name);
        if (!live) return [`${where} has no entry for role ${JSON.stringify(role.name)}; add it to the Cluster manifest: ${JSON.stringify(role)}`];
        if (sameRole(live, role)) return [];
        const fields = Object.keys(role).filter((k) => JSON.stringify(live[k]) !== JSON.stringify((role as unknown as Record<string, unknown>)[k]));
        return [`${where} entry ${JSON.stringify(role.name)} differs in ${fields.map((f) => `${f} (live ${JSON.stringify(live[f])}, expected ${JSON.stringify((role as unknown as Record<string, unknown>)[f])})`).join(", ")}`];
    });
}

export interface TenantRolesArgs {
    sharedCluster: SharedClusterConfig;
    roles: CnpgRoleFields[];
    reclaimPolicy: "retain" | "delete";
    labels: Record<string, string>;
    /** For the clusterPatch strategy, which talks to the infra cluster itself. */
    access: Pick<ClusterAccessSpec, "context" | "kubeconfig">;
    /** 0 when no CNPG operator runs (test clusters): removal does not wait for the role to be dropped. */
    dropTimeoutSeconds: number;
    /**
     * Reads the live shared Cluster. A direct API read rather than a Pulumi read resource: those stay unknown
     * during `pulumi preview`, and both the foreign-owner warning and the `external` check belong in the preview.
     */
    readLiveCluster: () => Promise<LiveCluster>;
    provider: k8s.Provider;
}

export const ROLE_PATCH_FIELD_MANAGER = "synergyflow-db-role-patch";

export class TenantRoles extends pulumi.ComponentResource {
    /** The resources the roles exist through (for dependsOn). */
    public readonly ready: pulumi.Resource[];
    /** What the strategy did, for the stack outputs; fails the program when an `external` role is missing. */
    public readonly status: pulumi.Output<string>;

    constructor(name: string, args: TenantRolesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:infra:TenantRoles", name, {}, opts);
        const { sharedCluster } = args;
        const childOpts = { parent: this, provider: args.provider };

        switch (sharedCluster.roleStrategy) {
            case "databaseRole":
                this.ready = args.roles.map((role) =>
                    customResource<DatabaseRoleSpec>(
                        `${name}-${role.name}`,
                        {
                            apiVersion: "postgresql.cnpg.io/v1",
                            kind: "DatabaseRole",
                            metadata: { name: role.name.replace(/_/g, "-"), namespace: sharedCluster.namespace, labels: args.labels },
                            // ensure: absent is not allowed on a DatabaseRole: removal = deleting it.
                            spec: { ...role, ensure: undefined, cluster: { name: sharedCluster.name }, databaseRoleReclaimPolicy: args.reclaimPolicy },
                        },
                        childOpts,
                    ),
                );
                // CNPG lets an inline entry of the same name win over a DatabaseRole: say so at preview.
                this.status = pulumi.output(args.readLiveCluster()).apply((cluster) => {
                    const inline = readRoleEntries(cluster, args.roles.map((r) => r.name)).map((r) => String(r["name"]));
                    if (inline.length > 0) {
                        pulumi.log.warn(
                            `Cluster ${sharedCluster.namespace}/${sharedCluster.name} also lists ${inline.join(", ")} in spec.managed.roles; CNPG applies that inline entry, not the DatabaseRole. Remove it from the Cluster manifest.`,
                            this,
                        );
                    }
                    return `databaseRole: ${args.roles.map((r) => r.name).join(", ")} as DatabaseRole objects${inline.length ? ` (shadowed inline: ${inline.join(", ")})` : ""}`;
                });
                break;
            case "clusterPatch": {
                const live = pulumi.output(args.readLiveCluster());
                this.status = live.apply((cluster) => {
                    const owners = foreignRoleOwners(cluster, ROLE_PATCH_FIELD_MANAGER);
                    const warning = foreignOwnerWarning(cluster, owners);
                    if (warning) pulumi.log.warn(warning, this);
                    return `clusterPatch: ${args.roles.map((r) => r.name).join(", ")} patched into spec.managed.roles${owners.length ? ` (also owned by ${owners.join(", ")})` : ""}`;
                });
                this.ready = [
                    new ClusterRolePatch(
                        `${name}-patch`,
                        {
                            access: {
                                ...args.access,
                                namespace: sharedCluster.namespace,
                                clusterName: sharedCluster.name,
                                fieldManager: ROLE_PATCH_FIELD_MANAGER,
                            },
                            roles: args.roles,
                            dropTimeoutSeconds: args.dropTimeoutSeconds,
                        },
                        // Removal marks our entries absent and waits for CNPG before deleting them.
                        { parent: this, retainOnDelete: args.reclaimPolicy === "retain" },
                    ),
                ];
                break;
            }
            case "external": {
                const live = pulumi.output(args.readLiveCluster());
                // Not in registerOutputs: the stack output carries the failure, reported once.
                this.status = live.apply((cluster) => {
                    const problems = externalRoleProblems(cluster, args.roles);
                    if (problems.length > 0) {
                        throw new Error(
                            `synergyflow-db:sharedCluster.roleStrategy is "external", but the live Cluster does not declare the roles as expected:\n  - ${problems.join("\n  - ")}`,
                        );
                    }
                    return `external: ${args.roles.map((r) => r.name).join(", ")} verified in the live Cluster`;
                });
                this.ready = [];
                break;
            }
        }
        this.registerOutputs({});
    }
}
