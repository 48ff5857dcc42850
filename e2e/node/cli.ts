// Node maintenance from the command line:
//   ./npm24 exec ts-node -- --transpile-only e2e/node/cli.ts cleanup-stale [infra|apps]   removes what a killed run's nodes left
//   ./npm24 exec ts-node -- --transpile-only e2e/node/cli.ts snapshot FILE   writes the host-state snapshot (JSON)
//   ./npm24 exec ts-node -- --transpile-only e2e/node/cli.ts diff A B        compares two snapshots (exit 1 if they differ)
import * as fs from "node:fs";
import { diffSnapshots, hostSnapshot } from "./hostState";
import { cleanupStale } from "./node";
import { NODE_SITES, type NodeSiteId } from "./sites";

function main(argv: string[]): number {
    const [command, ...args] = argv;
    if (command === "cleanup-stale" && (args[0] === undefined || args[0] in NODE_SITES)) {
        const { cleaned, problems } = cleanupStale(args[0] === undefined ? undefined : [args[0] as NodeSiteId]);
        if (problems.length) {
            console.error(`cleanup-stale left: ${problems.join("; ")}`);
            return 1;
        }
        console.log(cleaned ? "removed what a stale node left" : "nothing stale");
        return 0;
    }
    if (command === "snapshot" && args[0]) {
        fs.writeFileSync(args[0], JSON.stringify(hostSnapshot(), null, 2));
        return 0;
    }
    if (command === "diff" && args[0] && args[1]) {
        const diff = diffSnapshots(JSON.parse(fs.readFileSync(args[0], "utf8")), JSON.parse(fs.readFileSync(args[1], "utf8")));
        console.log(diff.length ? diff.join("\n") : "identical");
        return diff.length ? 1 : 0;
    }
    console.error(`usage: cli.ts cleanup-stale [${Object.keys(NODE_SITES).join("|")}] | snapshot FILE | diff BEFORE AFTER`);
    return 2;
}

process.exitCode = main(process.argv.slice(2));
