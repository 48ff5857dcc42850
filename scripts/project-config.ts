// Prints the `config:` block of Pulumi.yaml from the config schema: every key with its type, description and
// default. `npm run gen:project-config` rewrites Pulumi.yaml; a test keeps the two in step.
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { CONFIG_KEYS, PROJECT, configSchema } from "../components/model/config";
import { CONFIG_DESCRIPTIONS } from "../components/model/configDocs";

export function projectConfigBlock(): Record<string, { type: string; description: string; default?: unknown }> {
    const defaults = configSchema.parse({}) as Record<string, unknown>;
    const block: Record<string, { type: string; description: string; default?: unknown }> = {};
    for (const key of CONFIG_KEYS) {
        const value = defaults[key];
        // A declared key without a default is required in every stack: an optional block (migration) stays out.
        if (value === undefined) continue;
        const type = typeof value === "object" ? "object" : typeof value === "boolean" ? "boolean" : typeof value === "number" ? "integer" : "string";
        block[`${PROJECT}:${key}`] = {
            type,
            description: CONFIG_DESCRIPTIONS[key],
            ...(value === undefined ? {} : { default: value }),
            // No `secret: true` here: Pulumi would reject the plaintext default "" in every stack that takes its
            // token from VAULT_TOKEN instead ("must be encrypted as it's secret"), as the real engine showed.
        };
    }
    return block;
}

if (require.main === module) {
    const file = path.join(__dirname, "..", "Pulumi.yaml");
    const project = YAML.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
    project["config"] = projectConfigBlock();
    fs.writeFileSync(file, YAML.stringify(project, { lineWidth: 0 }));
    console.log(`wrote the config block of ${file}`);
}
