// The pooler's alerts take every threshold from the stack's own numbers, on CNPG's exporter's metric names.
import * as fs from "node:fs";
import * as path from "node:path";
import { poolerAlertRules } from "../components/model/poolerAlerts";
import { loadStackConfig } from "../components/program";
import { readStackFile } from "../tools/synth";
import { ROOT, byType, synth, variantConfig } from "./harness";

const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
const configOf = (file: string) => loadStackConfig(readStackFile(file).config);
const byName = (file: string) => Object.fromEntries(poolerAlertRules(configOf(file)).groups[0]!.rules.map((r) => [r.alert, r]));

describe("pooler alerts", () => {
    test("thresholds follow the stack: 90% of the role's limit, instances, Hikari's connection timeout", () => {
        const prod = byName(path.join(ROOT, "Pulumi.prod.yaml"));
        expect(prod["SynergyflowPoolerServerConnectionsNearRoleLimit"]!.expr).toMatch(/\) >= 18$/);
        expect(prod["SynergyflowPoolerPodsUnavailable"]!.expr).toMatch(/ < 3$/);
        expect(prod["SynergyflowPoolerWaitAboveHikariTimeout"]!.expr).toMatch(/\) > 30$/);
        const changed = byName(variantConfig("prod", {}, (c) => {
            c["synergyflow-db:tenant"].connectionLimit = 60;
            c["synergyflow-db:pooler"].instances = 4;
            c["synergyflow-db:backend"].hikari.connectionTimeoutMs = 10000;
            c["synergyflow-db:pooler"].parameters.max_db_connections = 15;
        }));
        expect(changed["SynergyflowPoolerServerConnectionsNearRoleLimit"]!.expr).toMatch(/\) >= 54$/);
        expect(changed["SynergyflowPoolerPodsUnavailable"]!.expr).toMatch(/ < 4$/);
        expect(changed["SynergyflowPoolerWaitAboveHikariTimeout"]!.expr).toMatch(/\) > 10$/);
    });

    test("every expression reads only CNPG's pooler metrics of this pooler's pods, database and role; every alert has a runbook", () => {
        for (const rule of Object.values(byName(path.join(ROOT, "Pulumi.prod.yaml")))) {
            const metrics = rule.expr.match(/[a-z_]+(?=\{)/g) ?? [];
            expect(metrics.length).toBeGreaterThan(0);
            for (const metric of metrics) expect(metric).toMatch(/^cnpg_pgbouncer_(pools_(sv_active|sv_idle|sv_used|sv_tested|sv_login|cl_waiting|maxwait|maxwait_us)|last_collection_error)$/);
            expect(rule.expr).toContain(`pod=~"synergyflow-pgbouncer-.*"`);
            if (rule.expr.includes("pools_")) expect(rule.expr).toContain(`user=~"synergyflow_app_a|synergyflow_app_b"`);
            expect(rule.annotations.runbook_url).toBe("README.md#runbook-pooler-alerts");
            expect(readme).toContain(`- **${rule.alert}**`);
            expect(rule.annotations.description).toContain("{{ $value }}");
        }
    });

    test("emitted as a PrometheusRule beside the PodMonitor (prod), not without it (dev)", async () => {
        const prod = await synth("prod");
        expect(byType(prod, "kubernetes:monitoring.coreos.com/v1:PrometheusRule")).toHaveLength(1);
        const dev = await synth("dev");
        expect(byType(dev, "kubernetes:monitoring.coreos.com/v1:PrometheusRule")).toHaveLength(0);
    });
});
