// The backend's namespace in the apps cluster, registered (build/namespace.ts). Since pulumi-kubernetes 4.29
// creating an object that already exists fails, so the stack says which case it is: `create` (the program owns
// the namespace and deletes it on destroy) or `patch` (it exists already: the program only applies its labels and
// never deletes it).
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { type NamespaceInputs, namespaceManifest } from "../build/namespace";

export interface AppsNamespaceArgs extends NamespaceInputs {
    provider: k8s.Provider;
}

export class AppsNamespace extends pulumi.ComponentResource {
    public readonly name: pulumi.Output<string>;

    constructor(name: string, args: AppsNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:apps:AppsNamespace", name, {}, opts);
        const manifest = namespaceManifest(args);
        const childOpts = { parent: this, provider: args.provider };
        const namespace =
            args.mode === "create"
                ? new k8s.core.v1.Namespace(`${name}-namespace`, manifest, childOpts)
                : new k8s.core.v1.NamespacePatch(`${name}-namespace`, manifest, { ...childOpts, retainOnDelete: true });
        this.name = namespace.metadata.apply((m) => m?.name ?? args.name);
        this.registerOutputs({ name: this.name });
    }
}
