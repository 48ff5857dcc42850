// The tenant's database on the shared cluster, registered: a CNPG Database CR (a managed role never creates one).
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { type DatabaseInputs, databaseManifest } from "../build/cnpg";

export interface TenantDatabaseArgs extends DatabaseInputs {
    provider: k8s.Provider;
    dependsOn: pulumi.Resource[];
}

export class TenantDatabase extends pulumi.ComponentResource {
    public readonly database: k8s.apiextensions.CustomResource;

    constructor(name: string, args: TenantDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:infra:TenantDatabase", name, {}, opts);
        this.database = new k8s.apiextensions.CustomResource(`${name}-database`, databaseManifest(args), { parent: this, provider: args.provider, dependsOn: args.dependsOn });
        this.registerOutputs({ databaseName: args.databaseName });
    }
}
