// `npm run test:alerts`: the PrometheusRule the program emits for each committed stack (dev with podMonitor on),
// checked by the real promtool (`promtool check rules`) and unit-tested with it (`promtool test rules`): each
// alert fires on synthetic series shaped like CNPG's pooler exporter and stays silent just below its threshold.
// Thresholds come from the stack's own numbers. Skips with one line when promtool is not built
// (e2e/toolchain/build-promtool.sh). Prints a closing "N passed, M failed".
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import YAML from "yaml";
import { type AlertRule, SERVER_CONNECTIONS_ALERT_RATIO, poolerAlertRules } from "../components/model/poolerAlerts";
import { loadStackConfig } from "../components/program";
import type { StackConfig } from "../components/model/config";
import { readStackFile } from "../tools/synth";
import { loginCredentials } from "../components/model/rotation";

const ROOT = path.join(__dirname, "..");
const promtool = path.join(process.env["SYNERGYFLOW_TOOLCHAIN"] ?? path.join(os.homedir(), ".cache", "synergyflow-db-toolchain"), "bin", "promtool");

interface Case {
    name: string;
    series: { series: string; values: string }[];
    evalTime: string;
    /** The value {{ $value }} renders to when it fires; undefined = must stay silent. */
    fires?: string;
}

/** Synthetic series for one alert: a firing case and a silent one, at the stack's thresholds. */
function casesFor(rule: AlertRule, config: StackConfig): Case[] {
    const { pooler, tenant, sharedCluster, backend } = config;
    const pod = (i: number) => `namespace="${sharedCluster.namespace}", pod="${pooler.name}-${i}"`;
    const pool = (i: number) => `${pod(i)}, database="${tenant.databaseName}", user="${loginCredentials(tenant).a.roleName}"`;
    const pods = Array.from({ length: pooler.instances }, (_, i) => i);
    const perPod = (metric: string, total: number, minutes: number) =>
        pods.map((i) => ({ series: `${metric}{${pool(i)}}`, values: `${Math.floor(total / pooler.instances) + (i < total % pooler.instances ? 1 : 0)}x${minutes}` }));
    const zeros = (metrics: string[], minutes: number) => metrics.flatMap((m) => pods.map((i) => ({ series: `${m}{${pool(i)}}`, values: `0x${minutes}` })));
    const threshold = Math.floor(tenant.connectionLimit * SERVER_CONNECTIONS_ALERT_RATIO);
    const waitLimit = backend.hikari.connectionTimeoutMs / 1000;
    switch (rule.alert) {
        case "SynergyflowPoolerServerConnectionsNearRoleLimit": {
            const others = ["cnpg_pgbouncer_pools_sv_idle", "cnpg_pgbouncer_pools_sv_used", "cnpg_pgbouncer_pools_sv_tested", "cnpg_pgbouncer_pools_sv_login"];
            return [
                { name: "at the threshold", series: [...perPod("cnpg_pgbouncer_pools_sv_active", threshold, 15), ...zeros(others, 15)], evalTime: "10m", fires: String(threshold) },
                { name: "one below", series: [...perPod("cnpg_pgbouncer_pools_sv_active", threshold - 1, 15), ...zeros(others, 15)], evalTime: "10m" },
            ];
        }
        case "SynergyflowPoolerClientsWaiting":
            return [
                { name: "waiting for 6 minutes", series: [{ series: `cnpg_pgbouncer_pools_cl_waiting{${pool(0)}}`, values: "2x10" }], evalTime: "6m", fires: "2" },
                { name: "waiting for 4 minutes only", series: [{ series: `cnpg_pgbouncer_pools_cl_waiting{${pool(0)}}`, values: "2x4 0x6" }], evalTime: "6m" },
            ];
        case "SynergyflowPoolerWaitAboveHikariTimeout":
            return [
                {
                    name: "half a second over Hikari's timeout",
                    series: [
                        { series: `cnpg_pgbouncer_pools_maxwait{${pool(0)}}`, values: `${waitLimit}x5` },
                        { series: `cnpg_pgbouncer_pools_maxwait_us{${pool(0)}}`, values: "500000x5" },
                    ],
                    evalTime: "3m",
                    fires: String(waitLimit + 0.5),
                },
                {
                    name: "exactly Hikari's timeout",
                    series: [
                        { series: `cnpg_pgbouncer_pools_maxwait{${pool(0)}}`, values: `${waitLimit}x5` },
                        { series: `cnpg_pgbouncer_pools_maxwait_us{${pool(0)}}`, values: "0x5" },
                    ],
                    evalTime: "3m",
                },
            ];
        case "SynergyflowPoolerPodsUnavailable":
            return [
                { name: "one pod's PgBouncer failing for 12 minutes", series: pods.map((i) => ({ series: `cnpg_pgbouncer_last_collection_error{${pod(i)}}`, values: `${i === 0 ? 1 : 0}x15` })), evalTime: "12m", fires: String(pooler.instances - 1) },
                { name: "one pod not scraped for 12 minutes", series: pods.filter((i) => i > 0).map((i) => ({ series: `cnpg_pgbouncer_last_collection_error{${pod(i)}}`, values: "0x15" })), evalTime: "12m", fires: String(pooler.instances - 1) },
                { name: "all pods up", series: pods.map((i) => ({ series: `cnpg_pgbouncer_last_collection_error{${pod(i)}}`, values: "0x15" })), evalTime: "12m" },
            ];
        case "SynergyflowPoolerServerLoginsFailing":
            return [
                { name: "logging in for 6 minutes", series: [{ series: `cnpg_pgbouncer_pools_sv_login{${pool(1 % pooler.instances)}}`, values: "1x10" }], evalTime: "7m", fires: "1" },
                { name: "a login that completes", series: [{ series: `cnpg_pgbouncer_pools_sv_login{${pool(1 % pooler.instances)}}`, values: "1 0x9" }], evalTime: "7m" },
            ];
        default:
            throw new Error(`no promtool cases for ${rule.alert}: every alert needs a firing and a silent case`);
    }
}

function main(): number {
    if (!fs.existsSync(promtool)) {
        console.log(`test:alerts skipped: promtool is not built on this machine (e2e/toolchain/build-promtool.sh)`);
        return 0;
    }
    let passed = 0;
    let failed = 0;
    const stacks: [string, string][] = [["prod", path.join(ROOT, "Pulumi.prod.yaml")], ["dev", path.join(ROOT, "Pulumi.dev.yaml")]];
    for (const [stack, file] of stacks) {
        const config = loadStackConfig(readStackFile(file).config);
        const spec = poolerAlertRules(config);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), `synergyflow-alerts-${stack}-`));
        const rulesFile = path.join(dir, "rules.yaml");
        fs.writeFileSync(rulesFile, YAML.stringify(spec));
        const run = (name: string, args: string[]) => {
            try {
                execFileSync(promtool, args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
                console.log(`ok   ${stack}: ${name}`);
                passed++;
            } catch (error) {
                const e = error as { stdout?: string; stderr?: string };
                console.log(`FAIL ${stack}: ${name}\n${e.stdout ?? ""}${e.stderr ?? ""}`);
                failed++;
            }
        };
        run("promtool check rules", ["check", "rules", rulesFile]);
        for (const rule of spec.groups.flatMap((g) => g.rules)) {
            for (const c of casesFor(rule, config)) {
                const render = (text: string) => text.replaceAll("{{ $value }}", c.fires ?? "");
                const test = {
                    rule_files: ["rules.yaml"],
                    evaluation_interval: "1m",
                    tests: [
                        {
                            interval: "1m",
                            input_series: c.series,
                            alert_rule_test: [
                                {
                                    eval_time: c.evalTime,
                                    alertname: rule.alert,
                                    exp_alerts: c.fires === undefined ? [] : [{ exp_labels: rule.labels, exp_annotations: Object.fromEntries(Object.entries(rule.annotations).map(([k, v]) => [k, render(v as string)])) }],
                                },
                            ],
                        },
                    ],
                };
                const testFile = path.join(dir, `${rule.alert}-${c.fires === undefined ? "silent" : "fires"}.yaml`);
                fs.writeFileSync(testFile, YAML.stringify(test));
                run(`${rule.alert} ${c.fires === undefined ? "stays silent" : "fires"} (${c.name})`, ["test", "rules", testFile]);
            }
        }
    }
    console.log(`\n${passed} passed, ${failed} failed`);
    return failed === 0 ? 0 : 1;
}

process.exit(main());
