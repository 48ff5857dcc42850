import { passwordArgs, vaultSecretArgs } from "./vaultCredential";

describe("a generated credential in Vault", () => {
    test("the password: 32 characters safe unquoted in a JDBC URL, libpq and a shell; a new one only when the rotation changes", () => {
        expect(passwordArgs("2")).toEqual({ length: 32, special: true, overrideSpecial: "-_.", minUpper: 2, minLower: 2, minNumeric: 2, keepers: { rotation: "2" } });
    });

    test("the KV v2 secret: named explicitly by the key the ExternalSecrets read, every version deleted with it", () => {
        expect(vaultSecretArgs({ mount: "secret", vaultKey: "kubernetes/infra/cloudnative-pg/synergyflow-a", dataJson: "{}" })).toEqual({
            mount: "secret",
            name: "kubernetes/infra/cloudnative-pg/synergyflow-a",
            dataJson: "{}",
            deleteAllVersions: true,
        });
    });
});
