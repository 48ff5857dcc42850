import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import type { LiveCluster } from "../../components/infra/rolePatch";
import { ROOT } from "../harness";

export function sharedClusterFixture(): LiveCluster {
    return YAML.parse(fs.readFileSync(path.join(ROOT, "fixtures/shared-postgres.cluster.yaml"), "utf8")) as LiveCluster;
}
