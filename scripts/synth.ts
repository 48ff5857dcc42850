// `npm run synth -- <stack> [--out DIR] [--config FILE] [--live DIR] [--live-cluster FILE]`: the offline synth of a
// stack (tools/synth.ts) from the command line. Invalid config or a refusing preflight: exit status 2, every
// problem on stderr, nothing written. The arguments and the exit status are exported for the unit tests.
import * as path from "node:path";
import { ConfigError, PreflightError } from "../components/model/problem";
import { type SynthOptions, runSynth } from "../tools/synth";

const ROOT = path.join(__dirname, "..");
const USAGE = "npm run synth -- <stack> [--out DIR] [--config FILE] [--live DIR] [--live-cluster FILE]";

/** The command line as synth options; a usage error throws. */
export function parseArgs(argv: string[]): SynthOptions {
    const [stack, ...rest] = argv;
    if (!stack || stack.startsWith("-")) throw new Error(`usage: ${USAGE}`);
    const options: SynthOptions = { stack, outDir: path.join(ROOT, "rendered") };
    for (let i = 0; i < rest.length; i++) {
        const flag = rest[i];
        const value = rest[++i];
        if (value === undefined) throw new Error(`${flag} needs a value`);
        if (flag === "--out") options.outDir = path.resolve(value);
        else if (flag === "--config") options.configFile = path.resolve(value);
        else if (flag === "--live") options.liveDir = path.resolve(value);
        else if (flag === "--live-cluster") options.liveClusterFile = path.resolve(value);
        else throw new Error(`unknown option ${flag}; usage: ${USAGE}`);
    }
    return options;
}

/** 2 for a stack the config check or the preflight refuses (every problem in the message), 1 for anything else. */
export const exitStatus = (error: unknown): number => (error instanceof ConfigError || error instanceof PreflightError ? 2 : 1);

if (require.main === module) {
    const started = Date.now();
    let options: SynthOptions;
    try {
        options = parseArgs(process.argv.slice(2));
    } catch (error) {
        console.error(String((error as Error).message));
        process.exit(2);
    }
    runSynth(options).then(
        (result) => {
            console.log(`synth ${options.stack}: ${result.plan.length} resources, ${result.files.length} files in ${path.relative(process.cwd(), result.dir) || "."} (${Date.now() - started} ms)`);
        },
        (error: unknown) => {
            const status = exitStatus(error);
            console.error(status === 2 ? (error as Error).message : error instanceof Error ? (error.stack ?? error.message) : String(error));
            process.exit(status);
        },
    );
}
