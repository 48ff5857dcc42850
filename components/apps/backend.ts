// The SynergyFlow backend, registered: the Deployment of build/backend.ts on the apps cluster.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { type BackendInputs, backendDeployment } from "../build/backend";

export interface BackendDeploymentArgs extends BackendInputs {
    provider: k8s.Provider;
    dependsOn: pulumi.Resource[];
}

export class BackendDeployment extends pulumi.ComponentResource {
    public readonly deployment: k8s.apps.v1.Deployment;

    constructor(name: string, args: BackendDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:apps:BackendDeployment", name, {}, opts);
        this.deployment = new k8s.apps.v1.Deployment(`${name}-deployment`, backendDeployment(args), { parent: this, provider: args.provider, dependsOn: args.dependsOn });
        this.registerOutputs({ deploymentName: this.deployment.metadata.name });
    }
}
