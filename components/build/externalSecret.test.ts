import { type VaultExternalSecretInputs, vaultExternalSecretManifest } from "./externalSecret";

const inputs: VaultExternalSecretInputs = {
    namespace: "cnpg-system",
    storeName: "vault-backend",
    refreshInterval: "1h",
    targetName: "pw-b",
    secretType: "kubernetes.io/basic-auth",
    secretLabels: { "cnpg.io/reload": "true" },
    vaultKey: "kubernetes/infra/cloudnative-pg/synergyflow-b",
    vaultVersion: "4",
    credentials: "synergyflow_app_b@4",
    properties: { username: "username", password: "password" },
    labels: {},
    waitForReady: true,
};

describe("the ExternalSecret", () => {
    test("reads the Vault version pinned and carries the credentials pair on itself and, through ESO's template, on the Secret", () => {
        const es = vaultExternalSecretManifest(inputs);
        expect(es.metadata.annotations).toEqual({ "synergyflow-db/credentials": "synergyflow_app_b@4", "pulumi.com/waitFor": "condition=Ready" });
        expect(es.spec.target.template).toEqual({ type: "kubernetes.io/basic-auth", engineVersion: "v2", metadata: { labels: { "cnpg.io/reload": "true" }, annotations: { "synergyflow-db/credentials": "synergyflow_app_b@4" } } });
        expect(es.spec.data.map((d) => d.remoteRef)).toEqual([
            { key: "kubernetes/infra/cloudnative-pg/synergyflow-b", property: "username", version: "4" },
            { key: "kubernetes/infra/cloudnative-pg/synergyflow-b", property: "password", version: "4" },
        ]);
    });

    test("a retained role keeps its Secret (Orphan); otherwise the Secret goes with the ExternalSecret", () => {
        expect(vaultExternalSecretManifest(inputs).spec.target.creationPolicy).toBe("Owner");
        expect(vaultExternalSecretManifest({ ...inputs, retainSecret: true }).spec.target.creationPolicy).toBe("Orphan");
    });
});
