import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import YAML from "yaml";
import type { LiveCluster } from "../../components/infra/rolePatch";
import { readDumpFolder } from "../../components/live/kubeObjects";
import { ROOT } from "../harness";

/** The prod shared Cluster as its owner wrote it before our entry was added: five tenants, Flux owning the roles. */
export function sharedClusterFixture(): LiveCluster {
    const cluster = YAML.parse(fs.readFileSync(path.join(ROOT, "fixtures/live/prod/infra/shared-postgres.yaml"), "utf8")) as LiveCluster;
    cluster.spec.managed!.roles = cluster.spec.managed!.roles!.filter((r) => r["name"] !== "synergyflow_app");
    return cluster;
}

/**
 * A copy of fixtures/live/<stack> in a temporary folder, changed by `change` (which may edit, add or remove
 * objects of either cluster), with `servedKinds` declared served on the infra cluster. Returns the folder.
 */
export function livePlatformCopy(stack: string, change?: (infra: any[], apps: any[]) => void, servedKinds: { apiVersion: string; kind: string }[] = []): string {
    const source = path.join(ROOT, "fixtures/live", stack);
    const infra: any[] = readDumpFolder(path.join(source, "infra"));
    const apps: any[] = readDumpFolder(path.join(source, "apps"));
    change?.(infra, apps);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-live-"));
    for (const [side, objects] of [["infra", infra], ["apps", apps]] as const) {
        fs.mkdirSync(path.join(dir, side));
        fs.writeFileSync(path.join(dir, side, "objects.yaml"), objects.map((o) => YAML.stringify(o)).join("---\n"));
    }
    if (servedKinds.length > 0) fs.writeFileSync(path.join(dir, "infra", "served-kinds.yaml"), YAML.stringify({ apiVersion: "v1", kind: "List", items: servedKinds }));
    return dir;
}
