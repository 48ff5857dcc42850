// An ExternalSecret reading one of this program's Vault KV v2 keys through a ClusterSecretStore, on either
// cluster, built pure (the components register it).
import type { Input } from "@pulumi/pulumi";
import type { ExternalSecretSpec } from "../model/crds";
import { CREDENTIALS_ANNOTATION } from "../model/rotation";

export interface VaultExternalSecretInputs {
    namespace: string;
    storeName: string;
    refreshInterval: string;
    /** The Kubernetes Secret to produce. */
    targetName: string;
    /** e.g. kubernetes.io/basic-auth; ESO makes Opaque Secrets unless the template says otherwise. */
    secretType: string;
    secretLabels?: Record<string, string>;
    /** The KV v2 secret name, relative to the store's mount: the same string vault.kv.SecretV2 was given. */
    vaultKey: Input<string>;
    /**
     * The KV v2 version the Secret must hold, read pinned (remoteRef.version). ESO does not watch Vault: it
     * re-reads at refreshInterval (1h in prod), or at once when the ExternalSecret changes; a new version changes
     * it, so it syncs now.
     */
    vaultVersion: Input<string>;
    /**
     * credentialsVersion(login role, vaultVersion): carried by the ExternalSecret and, through ESO's template, by
     * the Secret (CREDENTIALS_ANNOTATION), the evidence a rotation's wait looks for.
     */
    credentials: Input<string>;
    /** More annotations on the ExternalSecret (the rotation's record, rotation.ts). */
    annotations?: Record<string, Input<string>>;
    /** Secret key -> Vault property. */
    properties: Record<string, string>;
    labels: Record<string, string>;
    /** Wait for Ready (needs a running ESO controller). */
    waitForReady: boolean;
    /** Keep the Secret when the ExternalSecret is deleted (it holds the password of a retained role). */
    retainSecret?: boolean;
}

export function vaultExternalSecretManifest(inputs: VaultExternalSecretInputs) {
    return {
        apiVersion: "external-secrets.io/v1",
        kind: "ExternalSecret",
        metadata: {
            name: inputs.targetName,
            namespace: inputs.namespace,
            labels: inputs.labels,
            annotations: {
                ...inputs.annotations,
                [CREDENTIALS_ANNOTATION]: inputs.credentials,
                ...(inputs.waitForReady ? { "pulumi.com/waitFor": "condition=Ready" } : {}),
            },
        },
        spec: {
            refreshInterval: inputs.refreshInterval,
            secretStoreRef: { kind: "ClusterSecretStore", name: inputs.storeName },
            target: {
                name: inputs.targetName,
                // Owner: the Secret lives and dies with its ExternalSecret. Orphan: ESO leaves no owner
                // reference, so destroy keeps the Secret a retained role still reads its password from.
                creationPolicy: inputs.retainSecret ? "Orphan" : "Owner",
                template: {
                    type: inputs.secretType,
                    engineVersion: "v2",
                    metadata: { ...(inputs.secretLabels ? { labels: inputs.secretLabels } : {}), annotations: { [CREDENTIALS_ANNOTATION]: inputs.credentials } },
                },
            },
            data: Object.entries(inputs.properties).map(([secretKey, property]) => ({
                secretKey,
                remoteRef: { key: inputs.vaultKey, property, version: inputs.vaultVersion },
            })),
        } satisfies ExternalSecretSpec,
    };
}
