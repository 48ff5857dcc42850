// ExternalSecrets reading this program's Vault KV v2 keys through a ClusterSecretStore, on either cluster.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { customResource, type ExternalSecretSpec } from "./crds";
import { CREDENTIALS_ANNOTATION, credentialsVersion } from "./rotation";

export interface VaultExternalSecretArgs {
    namespace: string;
    storeName: string;
    refreshInterval: string;
    /** The Kubernetes Secret to produce. */
    targetName: string;
    /** e.g. kubernetes.io/basic-auth; ESO makes Opaque Secrets unless the template says otherwise. */
    secretType: string;
    secretLabels?: Record<string, string>;
    /** The KV v2 secret name, relative to the store's mount: the same string vault.kv.SecretV2 was given. */
    vaultKey: pulumi.Input<string>;
    /**
     * The KV v2 version the Secret must hold, read pinned (remoteRef.version). ESO does not watch Vault: it
     * re-reads at refreshInterval (1h in prod), or at once when the ExternalSecret changes; a new version changes
     * it, so it syncs now. The Secret carries it too, with loginRole (CREDENTIALS_ANNOTATION): the evidence a
     * wait looks for.
     */
    vaultVersion: pulumi.Input<string>;
    /** The role whose credentials the Vault key holds: with vaultVersion, the pair the Secret is annotated with. */
    loginRole: pulumi.Input<string>;
    /** More annotations on the ExternalSecret (the rotation's record, rotation.ts). */
    annotations?: Record<string, pulumi.Input<string>>;
    /** Secret key -> Vault property. */
    properties: Record<string, string>;
    labels: Record<string, string>;
    /** Wait for Ready (needs a running ESO controller). */
    waitForReady: boolean;
    /** Keep the Secret when the ExternalSecret is deleted (it holds the password of a retained role). */
    retainSecret?: boolean;
}

export function vaultExternalSecret(
    name: string,
    args: VaultExternalSecretArgs,
    opts: pulumi.CustomResourceOptions,
): k8s.apiextensions.CustomResource {
    const credentials = pulumi.all([args.loginRole, args.vaultVersion]).apply(([role, version]) => credentialsVersion(role, version));
    return customResource<ExternalSecretSpec>(
        name,
        {
            apiVersion: "external-secrets.io/v1",
            kind: "ExternalSecret",
            metadata: {
                name: args.targetName,
                namespace: args.namespace,
                labels: args.labels,
                annotations: {
                    ...args.annotations,
                    [CREDENTIALS_ANNOTATION]: credentials,
                    ...(args.waitForReady ? { "pulumi.com/waitFor": "condition=Ready" } : {}),
                },
            },
            spec: {
                refreshInterval: args.refreshInterval,
                secretStoreRef: { kind: "ClusterSecretStore", name: args.storeName },
                target: {
                    name: args.targetName,
                    // Owner: the Secret lives and dies with its ExternalSecret. Orphan: ESO leaves no owner
                    // reference, so destroy keeps the Secret a retained role still reads its password from.
                    creationPolicy: args.retainSecret ? "Orphan" : "Owner",
                    template: {
                        type: args.secretType,
                        engineVersion: "v2",
                        metadata: { ...(args.secretLabels ? { labels: args.secretLabels } : {}), annotations: { [CREDENTIALS_ANNOTATION]: credentials } },
                    },
                },
                data: Object.entries(args.properties).map(([secretKey, property]) => ({
                    secretKey,
                    remoteRef: { key: args.vaultKey, property, version: args.vaultVersion },
                })),
            },
        },
        opts,
    );
}
