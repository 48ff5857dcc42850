// The conformance checks over a set of emitted objects: CRD OpenAPI schemas and CEL rules, core Kubernetes
// schemas, CNPG's webhook rules and the wiring rules. Runs in plain Node (the schema packages are ESM-only):
//   npm run conformance -- rendered/dev [rendered/prod ...]    checks what synth wrote
//   ... check.ts --stdin                                         JSON {sets:[{name,objects,context}]} -> problems
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import type { JsonPatchOp, LiveCluster } from "../components/model/rolePatch";
import { coreKinds, handlesCore, validateCore } from "./coreSchemas";
import { CrdValidator, loadCrdSchemas } from "./crdSchemas";
import { applyJsonPatch } from "./jsonPatch";
import { type OperatorRuleContext, operatorRuleProblems } from "./operatorRules";
import { type KubeObject, type Problem, describeObject } from "./types";

export interface ObjectSet {
    name: string;
    objects: KubeObject[];
    context?: OperatorRuleContext;
}

export interface SetReport {
    name: string;
    checked: { object: string; checks: string[] }[];
    /** Objects of kinds whose schema is not available here (e.g. the Prometheus Operator's PodMonitor). */
    unchecked: string[];
    problems: Problem[];
}

export function checkSets(sets: ObjectSet[]): SetReport[] {
    const crds = new CrdValidator(loadCrdSchemas());
    return sets.map((set) => {
        const problems: Problem[] = [];
        const checked: SetReport["checked"] = [];
        const unchecked: string[] = [];
        for (const object of set.objects) {
            const checks: string[] = [];
            if (crds.handles(object)) {
                checks.push("openapi", "cel");
                problems.push(...crds.validate(object));
            } else if (handlesCore(object)) {
                checks.push("core-schema");
                problems.push(...validateCore(object));
            } else {
                unchecked.push(`${describeObject(object)} (${object.apiVersion}: not in the CRD folder nor among the core kinds ${coreKinds().join(", ")})`);
                continue;
            }
            checked.push({ object: describeObject(object), checks });
        }
        problems.push(...operatorRuleProblems(set.objects, set.context));
        return { name: set.name, checked, unchecked, problems };
    });
}

/** The objects synth wrote for a stack; role patches are applied to the live Cluster they patch, waits skipped. */
export function renderedObjects(stackDir: string, liveCluster: LiveCluster): KubeObject[] {
    const objects: KubeObject[] = [];
    let cluster: LiveCluster | undefined;
    for (const side of ["infra", "apps"]) {
        const dir = path.join(stackDir, side);
        if (!fs.existsSync(dir)) continue;
        for (const file of fs.readdirSync(dir).sort()) {
            const doc = YAML.parse(fs.readFileSync(path.join(dir, file), "utf8"));
            if (doc.kind === "JSONPatch") cluster = applyJsonPatch(cluster ?? liveCluster, doc.patch as JsonPatchOp[]);
            // A rotation step's wait reads live objects and sends none.
            else if (!["EvidenceWait", "JobResultWait"].includes(doc.kind)) objects.push(doc as KubeObject);
        }
    }
    // The shared Cluster as it would be after the patch (or as it is live): role rules see every tenant.
    const liveObject = structuredClone(cluster ?? liveCluster) as unknown as KubeObject;
    delete (liveObject as Record<string, unknown>)["status"];
    if (liveObject.metadata) liveObject.metadata = { name: liveObject.metadata.name, namespace: liveObject.metadata.namespace };
    return [liveObject, ...objects];
}

function printReports(reports: SetReport[]): number {
    let failures = 0;
    for (const report of reports) {
        console.log(`${report.name}: ${report.checked.length} objects checked, ${report.problems.length} problem(s)`);
        for (const u of report.unchecked) console.log(`  (no schema here) ${u}`);
        for (const p of report.problems) console.log(`  - [${p.check}] ${p.object}: ${p.message}`);
        failures += report.problems.length;
    }
    return failures;
}

if (require.main === module) {
    const args = process.argv.slice(2);
    if (args[0] === "--stdin") {
        const input = JSON.parse(fs.readFileSync(0, "utf8")) as { sets: ObjectSet[] };
        process.stdout.write(JSON.stringify(checkSets(input.sets)));
    } else {
        const live = YAML.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", "live", "prod", "infra", "shared-postgres.yaml"), "utf8")) as LiveCluster;
        const dirs = args.length > 0 ? args : ["rendered/dev", "rendered/prod"];
        const failures = printReports(checkSets(dirs.map((dir) => ({ name: dir, objects: renderedObjects(dir, live) }))));
        process.exit(failures > 0 ? 1 : 0);
    }
}
