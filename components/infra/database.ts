// The tenant's database on the shared cluster: a CNPG Database CR (a managed role never creates one).
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { type DatabaseSpec, customResource } from "../crds";

/** The Database object's name: the cluster's and the database's, as Kubernetes spells names. */
export const databaseObjectName = (clusterName: string, databaseName: string) => `${clusterName}-${databaseName.replace(/_/g, "-")}`;

export interface TenantDatabaseArgs {
    clusterName: string;
    namespace: string;
    databaseName: string;
    owner: string;
    schemas: string[];
    reclaimPolicy: "retain" | "delete";
    labels: Record<string, string>;
    provider: k8s.Provider;
    dependsOn: pulumi.Resource[];
}

export class TenantDatabase extends pulumi.ComponentResource {
    public readonly database: k8s.apiextensions.CustomResource;

    constructor(name: string, args: TenantDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:infra:TenantDatabase", name, {}, opts);
        this.database = customResource<DatabaseSpec>(
            `${name}-database`,
            {
                apiVersion: "postgresql.cnpg.io/v1",
                kind: "Database",
                metadata: { name: databaseObjectName(args.clusterName, args.databaseName), namespace: args.namespace, labels: args.labels },
                spec: {
                    cluster: { name: args.clusterName },
                    name: args.databaseName,
                    owner: args.owner,
                    ensure: "present",
                    databaseReclaimPolicy: args.reclaimPolicy,
                    schemas: args.schemas.map((schema) => ({ name: schema, owner: args.owner, ensure: "present" })),
                },
            },
            { parent: this, provider: args.provider, dependsOn: args.dependsOn },
        );
        this.registerOutputs({ databaseName: args.databaseName });
    }
}
