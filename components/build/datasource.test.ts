import { SERVER_CA_FILE } from "../model/jdbc";
import { datasourceConfigMap, serverCaConfigMap } from "./datasource";

const inputs = { namespace: "synergyflow", labels: { "app.kubernetes.io/component": "backend" } };

describe("the backend's ConfigMaps", () => {
    test("the datasource settings: auto-named (no metadata.name), so a change rolls the backend out", () => {
        const env = { SPRING_DATASOURCE_URL: "jdbc:postgresql://10.80.12.40:5432/synergyflow", PGHOST: "10.80.12.40" };
        expect(datasourceConfigMap({ ...inputs, env })).toEqual({ metadata: inputs, data: env });
    });

    test("the server CA: auto-named too (a rotated CA rolls the backend), as the file the datasource points at", () => {
        const configMap = serverCaConfigMap({ ...inputs, caCertificate: "-----BEGIN CERTIFICATE-----" });
        expect(configMap).toEqual({ metadata: inputs, data: { "ca.crt": "-----BEGIN CERTIFICATE-----" } });
        expect(SERVER_CA_FILE.endsWith(`/${Object.keys(configMap.data as object)[0]}`)).toBe(true);
    });
});
