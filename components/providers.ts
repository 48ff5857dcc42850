// The providers every resource names explicitly: the infra and apps Kubernetes clusters, Vault, and random.
// The stack sets pulumi:disable-default-providers, so a resource that forgets its provider fails instead of
// landing in whatever cluster the ambient kubeconfig points at.
import * as k8s from "@pulumi/kubernetes";
import * as random from "@pulumi/random";
import * as vault from "@pulumi/vault";
import type { StackConfig } from "./model/config";

/** The providers of the generated credentials: the password generator and Vault. */
export interface CredentialProviders {
    vault: vault.Provider;
    random: random.Provider;
}

type ClusterAccess = StackConfig["infraCluster"];

export function kubeProvider(name: string, access: ClusterAccess): k8s.Provider {
    return new k8s.Provider(name, {
        context: access.context,
        kubeconfig: access.kubeconfig,
        clusterIdentifier: access.clusterIdentifier,
        enableServerSideApply: true,
        // Creating an object that already exists (Flux owns a Pooler and a PDB by our default names) must fail
        // loudly instead of taking it over.
        upsertExistingObjects: false,
        // These objects are the program's own: an out-of-band edit by another field manager is drift that the
        // next `pulumi up` repairs, not a conflict that blocks it (the shared Cluster is never applied).
        enablePatchForce: true,
    });
}

export function vaultProvider(config: StackConfig): vault.Provider {
    return new vault.Provider("vault", {
        address: config.vault.address,
        // No token here: the provider reads VAULT_TOKEN from the environment, so no token is stored in the
        // state and a new CI token does not change the provider (which would fail the drift check).
        // The token's own TTL governs; a child token would expire mid-run on long updates.
        skipChildToken: true,
    });
}

export function credentialProviders(config: StackConfig): CredentialProviders {
    return { vault: vaultProvider(config), random: new random.Provider("random") };
}
