// The committed stacks' configs as the program receives them, for tests of pure code (no synth).
import * as path from "node:path";
import type { StackConfig } from "../../components/model/config";
import { loadStackConfig } from "../../components/program";
import { readStackFile } from "../../tools/synth";

const ROOT = path.join(__dirname, "..", "..");

export function stackConfig(stack: "dev" | "prod" | "local", change?: (config: StackConfig) => void): StackConfig {
    const config = loadStackConfig(readStackFile(path.join(ROOT, `Pulumi.${stack}.yaml`)).config);
    change?.(config);
    return config;
}
