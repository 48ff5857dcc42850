// The SynergyFlow backend, registered: the Deployment of build/backend.ts on the apps cluster.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { BACKEND_HTTP_PORT, type BackendInputs, backendDeployment, backendPodSelector } from "../build/backend";
import { backendNetworkPolicy } from "../build/networkPolicy";
import type { NetworkPoliciesConfig } from "../model/config";

export interface BackendDeploymentArgs extends BackendInputs {
    networkPolicies: NetworkPoliciesConfig;
    provider: k8s.Provider;
    dependsOn: pulumi.Resource[];
}

export class BackendDeployment extends pulumi.ComponentResource {
    public readonly deployment: k8s.apps.v1.Deployment;

    constructor(name: string, args: BackendDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:apps:BackendDeployment", name, {}, opts);
        const policy = backendNetworkPolicy({ namespace: args.config.namespace, labels: args.labels, podSelector: backendPodSelector(args.labels), httpPort: BACKEND_HTTP_PORT, config: args.networkPolicies });
        if (policy) new k8s.networking.v1.NetworkPolicy(`${name}-network-policy`, policy, { parent: this, provider: args.provider, dependsOn: args.dependsOn });
        this.deployment = new k8s.apps.v1.Deployment(`${name}-deployment`, backendDeployment(args), { parent: this, provider: args.provider, dependsOn: args.dependsOn });
        this.registerOutputs({ deploymentName: this.deployment.metadata.name });
    }
}
