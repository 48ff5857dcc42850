// The backend's namespace in the apps cluster. Since pulumi-kubernetes 4.29 creating an object that already
// exists fails, so the stack says which case it is: `create` (the program owns the namespace and deletes it
// on destroy) or `patch` (it exists already: the program only applies its labels and never deletes it).
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { STACK_LABEL } from "../model/labels";

export interface AppsNamespaceArgs {
    name: string;
    mode: "create" | "patch";
    podSecurityLevel: "baseline" | "restricted";
    labels: Record<string, string>;
    provider: k8s.Provider;
}

export function namespaceLabels(args: Pick<AppsNamespaceArgs, "labels" | "podSecurityLevel">): Record<string, string> {
    return {
        ...args.labels,
        "pod-security.kubernetes.io/enforce": args.podSecurityLevel,
        "pod-security.kubernetes.io/warn": "restricted",
    };
}

export class AppsNamespace extends pulumi.ComponentResource {
    public readonly name: pulumi.Output<string>;

    constructor(name: string, args: AppsNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:apps:AppsNamespace", name, {}, opts);
        const labels = namespaceLabels(args);
        // A namespace the program only patches is not its own: it must not carry the ownership label.
        if (args.mode === "patch") delete labels[STACK_LABEL];
        const metadata = { name: args.name, labels };
        const childOpts = { parent: this, provider: args.provider };
        const namespace =
            args.mode === "create"
                ? new k8s.core.v1.Namespace(`${name}-namespace`, { metadata }, childOpts)
                : new k8s.core.v1.NamespacePatch(`${name}-namespace`, { metadata }, { ...childOpts, retainOnDelete: true });
        this.name = namespace.metadata.apply((m) => m?.name ?? args.name);
        this.registerOutputs({ name: this.name });
    }
}
