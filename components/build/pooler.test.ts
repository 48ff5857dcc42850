import { stackConfig } from "../../tests/support/stackConfigs";
import type { StackConfig } from "../model/config";
import { type PoolerInputs, poolerDisruptionBudget, poolerGlobalService, poolerHost, poolerManifest, poolerNetworkPolicy, poolerPodMonitor } from "./pooler";

const inputs = (config: StackConfig, auth?: PoolerInputs["auth"]): PoolerInputs => ({
    config: config.pooler,
    clusterName: "shared-postgres",
    namespace: "cnpg-system",
    databaseName: "synergyflow",
    loginRoles: ["synergyflow_app_a", "synergyflow_app_b"],
    labels: { app: "synergyflow" },
    ...(auth ? { auth } : {}),
});

describe("the Pooler and its objects", () => {
    const prod = stackConfig("prod");

    test("the Pooler: rw, string parameters, pg_hba for the login roles only, CNPG's auth unless told, no surge, background deletion", () => {
        const pooler = poolerManifest(inputs(prod));
        expect(pooler.metadata.annotations).toEqual({ "pulumi.com/deletionPropagationPolicy": "background" });
        expect(pooler.spec).toMatchObject({ cluster: { name: "shared-postgres" }, instances: 3, type: "rw", deploymentStrategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } } });
        for (const value of Object.values(pooler.spec.pgbouncer.parameters)) expect(typeof value).toBe("string");
        expect(pooler.spec.pgbouncer.parameters["server_reset_query"]).toBe("RESET ALL; RESET ROLE");
        expect(pooler.spec.pgbouncer.pg_hba.filter((rule) => rule.startsWith("hostssl")).map((rule) => rule.split(" ")[2])).toEqual(["synergyflow_app_a", "synergyflow_app_a", "synergyflow_app_b", "synergyflow_app_b"]);
        expect(pooler.spec.pgbouncer.authQuerySecret).toBeUndefined();
        expect(poolerManifest(inputs(prod, { secretName: "auth", query: "SELECT 1" })).spec.pgbouncer).toMatchObject({ authQuerySecret: { name: "auth" }, authQuery: "SELECT 1" });
        // The CRD requires containers; the operator overwrites securityContext, so none is set.
        expect(pooler.spec.template.spec.containers).toEqual([{ name: "pgbouncer", resources: prod.pooler.resources }]);
    });

    test("exposure decides the Service template and the host the apps cluster connects to", () => {
        expect(poolerManifest(inputs(prod)).spec.serviceTemplate).toEqual({ metadata: { annotations: { "lbipam.cilium.io/ips": "10.80.12.40" } }, spec: { type: "LoadBalancer", externalTrafficPolicy: "Local" } });
        expect(poolerHost(prod.pooler, "cnpg-system")).toBe("10.80.12.40");
        const mesh = stackConfig("prod", (c) => (c.pooler.exposure = { ...c.pooler.exposure, mode: "clusterMesh" }));
        expect(poolerHost(mesh.pooler, "cnpg-system")).toBe("synergyflow-pgbouncer.cnpg-system.svc.cluster.local");
        expect(poolerManifest(inputs(mesh)).spec.serviceTemplate).toEqual({ metadata: { annotations: { "service.cilium.io/global": "true" } }, spec: { type: "ClusterIP" } });
        const external = stackConfig("prod", (c) => (c.pooler = { ...c.pooler, podMonitor: false, exposure: { ...c.pooler.exposure, mode: "external", host: "synergyflow-db.platform.internal" } }));
        expect(poolerHost(external.pooler, "cnpg-system")).toBe("synergyflow-db.platform.internal");
        expect(poolerManifest(inputs(external)).spec.serviceTemplate).toBeUndefined();
        expect(poolerNetworkPolicy(inputs(external))).toBeUndefined();
    });

    test("the NetworkPolicy admits what arrives from the apps cluster (its nodes when it masquerades, else its pods) and the monitoring namespace on 9127", () => {
        const selector = { matchLabels: { "cnpg.io/poolerName": "synergyflow-pgbouncer" } };
        expect(poolerNetworkPolicy(inputs(prod))?.spec).toEqual({
            podSelector: selector,
            policyTypes: ["Ingress"],
            ingress: [
                { from: [{ ipBlock: { cidr: "10.80.20.0/24" } }], ports: [{ protocol: "TCP", port: 5432 }] },
                { from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }], ports: [{ protocol: "TCP", port: 9127 }] },
            ],
        });
        const unmasqueraded = stackConfig("dev", (c) => (c.pooler.exposure.appsMasquerade = false));
        expect((poolerNetworkPolicy(inputs(unmasqueraded))?.spec as { ingress: { from: unknown }[] }).ingress[0]!.from).toEqual([{ ipBlock: { cidr: "10.245.0.0/16" } }]);
        expect(poolerDisruptionBudget(inputs(prod)).spec).toEqual({ maxUnavailable: 1, selector });
        expect(poolerPodMonitor(inputs(prod)).spec).toEqual({ selector, podMetricsEndpoints: [{ port: "metrics" }] });
    });

    test("clusterMesh: the global Service in the apps cluster has the pooler's name, namespace and port, and shares no endpoints of its own", () => {
        expect(poolerGlobalService({ name: "synergyflow-pgbouncer", namespace: "cnpg-system", labels: { app: "synergyflow" } })).toEqual({
            metadata: {
                name: "synergyflow-pgbouncer",
                namespace: "cnpg-system",
                labels: { app: "synergyflow" },
                annotations: { "service.cilium.io/global": "true", "service.cilium.io/shared": "false" },
            },
            spec: { type: "ClusterIP", ports: [{ name: "pgbouncer", port: 5432, targetPort: 5432, protocol: "TCP" }] },
        });
    });
});
